//! The request id: taken from the caller's `X-Request-Id` when it is a sane token, else made
//! up; passed upstream, logged, and returned in every reply.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

pub const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// The caller's `X-Request-Id` when it is a sane token, else a new one.
pub fn of(headers: &http::HeaderMap) -> String {
    let given = headers.get(X_REQUEST_ID).and_then(|v| v.to_str().ok());
    match given {
        Some(id) if (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()) => {
            id.to_owned()
        }
        _ => new(),
    }
}

/// A process-unique id: a random prefix per process, then a counter.
pub fn new() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Written by hand: `format!` costs a fifth of this request's own bookkeeping.
    let mut id = String::with_capacity(21);
    push_hex(&mut id, *PREFIX, 12);
    id.push('-');
    push_hex(&mut id, n, 8);
    id
}

/// The low `digits` hex digits of `n`, zero-padded.
fn push_hex(out: &mut String, n: u64, digits: u32) {
    for shift in (0..digits).rev() {
        let nibble = (n >> (shift * 4)) & 0xf;
        out.push(char::from_digit(nibble as u32, 16).unwrap_or('0'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_request_ids_are_distinct_and_shaped_like_hex() {
        let (a, b) = (new(), new());
        assert_ne!(a, b);
        for id in [&a, &b] {
            let (prefix, count) = id.split_once('-').unwrap();
            assert_eq!((prefix.len(), count.len()), (12, 8), "{id}");
            assert!(
                id.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()),
                "{id}"
            );
            assert!(!id.bytes().any(|c| c.is_ascii_uppercase()), "{id}");
        }
        let (na, nb) = (&a[13..], &b[13..]);
        let (na, nb) = (
            u64::from_str_radix(na, 16).unwrap(),
            u64::from_str_radix(nb, 16).unwrap(),
        );
        assert!(nb > na, "the counter part grows: {a} then {b}");
        assert_eq!(a[..12], b[..12], "one prefix per process");
    }
}
