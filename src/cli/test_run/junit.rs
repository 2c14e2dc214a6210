//! The JUnit XML report (`--junit FILE`), in the shape CI systems read: one `<testsuite>` per
//! bridge, one `<testcase>` per test, a `<failure>` holding the diff.

use std::fmt::Write as _;
use std::time::Duration;

/// One test's result.
pub struct Case {
    pub name: String,
    pub time: Duration,
    /// The differences; empty when it passed.
    pub failures: Vec<String>,
}

/// One bridge's (or one file's) results.
pub struct Suite {
    pub name: String,
    pub cases: Vec<Case>,
}

pub fn write(suites: &[Suite]) -> String {
    let count = |f: fn(&Case) -> bool| -> usize {
        suites
            .iter()
            .map(|s| s.cases.iter().filter(|c| f(c)).count())
            .sum()
    };
    let tests = count(|_| true);
    let failures = count(|c| !c.failures.is_empty());
    let time: Duration = suites.iter().flat_map(|s| &s.cases).map(|c| c.time).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"bridgeway\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">",
        time.as_secs_f64()
    );
    for suite in suites {
        suite_xml(&mut xml, suite);
    }
    xml.push_str("</testsuites>\n");
    xml
}

fn suite_xml(xml: &mut String, suite: &Suite) {
    let failures = suite
        .cases
        .iter()
        .filter(|c| !c.failures.is_empty())
        .count();
    let time: Duration = suite.cases.iter().map(|c| c.time).sum();
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">",
        escape(&suite.name),
        suite.cases.len(),
        time.as_secs_f64()
    );
    for case in &suite.cases {
        let _ = write!(
            xml,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
            escape(&case.name),
            escape(&suite.name),
            case.time.as_secs_f64()
        );
        match case.failures.first() {
            None => xml.push_str("/>\n"),
            Some(first) => {
                let _ = writeln!(
                    xml,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    escape(first),
                    escape(&case.failures.join("\n")).replace("&#10;", "\n")
                );
            }
        }
    }
    xml.push_str("  </testsuite>\n");
}

/// Text for an attribute or element: markup escaped, and characters XML 1.0 cannot hold at all
/// (most control characters) replaced.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}
