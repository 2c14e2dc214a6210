//! Arbitrary bytes as an upstream body, read for a few singular paths by the extractor
//! (`bridgeway::stages::map::extract`) and by serde_json's full parse followed by a walk: both
//! must refuse the same bodies and, where both read one, give the same value for every path.
#![no_main]

use bridgeway::jsonpath::CompiledPath;
use bridgeway::stages::map::extract::Extractor;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Paths over keys and indices the fuzzer finds quickly in small bodies.
const PATHS: [&str; 12] = [
    "$",
    "$.a",
    "$.b",
    "$.a.b",
    "$.a[0]",
    "$[0]",
    "$[1].a",
    "$.a[-1]",
    "$['']",
    "$[\"'a'\"]",
    "$.a.a.a",
    "$[0][0]",
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, body)) = data.split_first() else {
        return;
    };
    let paths: Vec<CompiledPath> = PATHS
        .iter()
        .enumerate()
        .filter(|(i, _)| choice & (1 << (i % 8)) != 0)
        .map(|(_, p)| CompiledPath::compile(p).unwrap())
        .collect();
    let extractor = Extractor::new(paths.iter().map(|p| p.steps()));
    let picked = extractor.extract(body);
    let parsed = serde_json::from_slice::<Value>(body)
        .ok()
        .map(|doc| paths.iter().map(|p| p.first(&doc).cloned()).collect::<Vec<_>>());
    assert_eq!(picked, parsed, "{:?}", String::from_utf8_lossy(body));
});
