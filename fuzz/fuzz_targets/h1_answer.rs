//! Arbitrary bytes as an upstream's answer to our HTTP/1.1 exchange, in one read or in reads
//! of one byte: it must never panic or hang, never hand back a body over the cap, never call
//! a connection reusable when bytes were left over, and read the same either way.
#![no_main]

#[path = "../../tests/support/h1_pair.rs"]
mod h1_pair;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let get = http::Method::GET;
    let (whole, reusable) = h1_pair::ours(&get, data, &[]);
    let (bytewise, _) = h1_pair::ours(&get, data, &vec![1; data.len()]);
    if let h1_pair::Read::Answer(_, _, body) = &whole {
        assert!(body.len() <= h1_pair::MAX_BODY);
    }
    if reusable {
        assert!(matches!(whole, h1_pair::Read::Answer(..)));
    }
    assert_eq!(whole, bytewise, "one read or many must not matter");
});
