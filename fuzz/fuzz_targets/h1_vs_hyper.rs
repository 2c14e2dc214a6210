//! Arbitrary answer bytes, split at arbitrary points, read by our HTTP/1.1 exchange and by
//! hyper's client: they must agree as `tests/upstream_differential.rs` requires.
#![no_main]

#[path = "../../tests/support/h1_pair.rs"]
mod h1_pair;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first bytes choose the method and how the answer is split into reads.
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let method = if choice & 1 == 1 { http::Method::HEAD } else { http::Method::GET };
    let splits: Vec<usize> = (0..(choice >> 1) % 8)
        .map(|i| 1 + (usize::from(choice).wrapping_mul(31 + i as usize) % 23))
        .collect();
    if let Err(disagreement) = h1_pair::compare(&method, rest, &splits) {
        panic!("{disagreement}");
    }
});
