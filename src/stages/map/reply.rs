//! The reply body, written straight into one buffer: each field's JSON key encoded at load,
//! strings escaped as serde_json escapes them.

use serde_json::Value;

use super::{Items, Output, OutputField, OutputMapping};

impl OutputMapping {
    /// The reply body: `{"name": value, …}` in the file's order, fields without a value left out.
    pub fn to_json(&self, output: &Output) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 32 * self.fields.len());
        out.push(b'{');
        let present = self
            .fields
            .iter()
            .zip(&output.0)
            .filter_map(|(f, v)| Some((f, v.as_ref()?)));
        for (i, (field, value)) in present.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&field.key_json);
            out.push(b':');
            write_field(&mut out, field, value);
        }
        out.push(b'}');
        out
    }
}

/// A field's value; records are written with their fields in the file's order.
fn write_field(out: &mut Vec<u8>, field: &OutputField, value: &Value) {
    match (field.items.as_ref().and_then(Items::records), value) {
        (Some(fields), Value::Array(records)) => {
            out.push(b'[');
            for (i, record) in records.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_record(out, fields, record);
            }
            out.push(b']');
        }
        _ => write_value(out, value),
    }
}

fn write_record(out: &mut Vec<u8>, fields: &[OutputField], record: &Value) {
    out.push(b'{');
    let present = fields
        .iter()
        .filter_map(|f| Some((f, record.get(&f.name)?)));
    for (i, (field, value)) in present.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&field.key_json);
        out.push(b':');
        write_value(out, value);
    }
    out.push(b'}');
}

/// `value` as JSON, strings escaped as serde_json escapes them. serde_json looks each byte of
/// a string up in its escape table, which was most of the cost of writing a reply with a few
/// hundred bytes of text; here 16 bytes at a time are checked at once and clean runs copied.
fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(s) => write_str(out, s.as_bytes()),
        // Writing a Value into a Vec cannot fail.
        _ => {
            let _ = serde_json::to_writer(out, value);
        }
    }
}

fn write_str(out: &mut Vec<u8>, text: &[u8]) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    let mut copied = 0; // the text before this is in `out`
    let mut at = 0;
    for block in text.chunks(16) {
        // Folded without an early exit, so the compiler checks the block in a few instructions.
        if block.iter().fold(false, |any, &b| any | must_escape(b)) {
            for (i, &b) in block.iter().enumerate() {
                if must_escape(b) {
                    out.extend_from_slice(&text[copied..at + i]);
                    push_escape(out, b);
                    copied = at + i + 1;
                }
            }
        }
        at += block.len();
    }
    out.extend_from_slice(&text[copied..]);
    out.push(b'"');
}

fn must_escape(b: u8) -> bool {
    (b < 0x20) | (b == b'"') | (b == b'\\')
}

/// How JSON writes a byte that cannot stand as it is.
fn push_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match b {
        b'"' => b'"',
        b'\\' => b'\\',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        0x08 => b'b',
        0x0c => b'f',
        _ => {
            let (hi, lo) = (HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]);
            return out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hi, lo]);
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let mut texts: Vec<String> = [
            "",
            "plain",
            "with \"quotes\"",
            "back\\slash",
            "tab\there",
            "line\nbreak",
            "nul\u{0}",
            "del\u{7f}",
            "é ü 😀",
            "</script>",
            "\u{1f}",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        texts.extend((0u8..=127).map(|b| format!("ab{}cd", b as char)));
        // Escapes at the edges of the 16-byte blocks, and runs of them.
        texts.extend((0..40).map(|n| format!("{}\"{}\n", "x".repeat(n), "y".repeat(n % 17))));
        texts.push("\n".repeat(40));
        for text in texts {
            let value = Value::String(text.clone());
            let mut ours = Vec::new();
            write_value(&mut ours, &value);
            assert_eq!(ours, serde_json::to_vec(&value).unwrap(), "{text:?}");
        }
    }
}
