//! Our own HTTP/1.1 exchange held to hyper's client on generated answers: every framing RFC
//! 9112 allows (length, chunked with extensions and trailers, to the close, no body for
//! HEAD/204/304, interim 1xx answers first), stray bytes after the answer, single bytes changed
//! anywhere, and each answer delivered in pieces split at arbitrary points.
//!
//! Every answer both read must give the same status, headers and body; every answer one
//! refuses, the other must refuse too, except where the gateway is deliberately stricter, each
//! case named in `stricter_on_purpose`. The fuzz target `h1_vs_hyper` runs the same
//! comparison on arbitrary bytes.

use crate::support::h1_pair::{Read, compare, ours};
use http::Method;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Framing {
    Length,
    /// Chunks of these sizes (the body split so), extensions on some, then trailers.
    Chunked(Vec<usize>, bool, Vec<(String, String)>),
    UntilClose,
    /// A length beside chunking: the chunking frames it.
    LengthAndChunked(Vec<usize>),
    /// A coding that is not chunked: the body runs to the close.
    OtherCoding,
}

#[derive(Debug, Clone)]
struct Case {
    head_request: bool,
    interim: Vec<u16>,
    status: u16,
    version: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    framing: Framing,
    stray: Vec<u8>,
    /// One byte replaced: (position as a share of the length, new byte).
    flip: Option<(f64, u8)>,
    splits: Vec<usize>,
}

fn chunk(body: &[u8], sizes: &[usize], ext: bool, trailers: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    for (i, size) in sizes.iter().chain(std::iter::repeat(&64)).enumerate() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at((*size).clamp(1, rest.len()));
        let ext = if ext && i % 2 == 0 { ";a=b" } else { "" };
        out.extend_from_slice(format!("{:x}{ext}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
        rest = tail;
    }
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

impl Case {
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for code in &self.interim {
            out.extend_from_slice(format!("HTTP/1.1 {code} Wait\r\nx-i: 1\r\n\r\n").as_bytes());
        }
        let mut head = format!("{} {} Reason\r\n", self.version, self.status);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let len = format!("content-length: {}\r\n", self.body.len());
        let body = match &self.framing {
            Framing::Length => {
                head.push_str(&len);
                self.body.clone()
            }
            Framing::Chunked(sizes, ext, trailers) => {
                head.push_str("transfer-encoding: chunked\r\n");
                chunk(&self.body, sizes, *ext, trailers)
            }
            Framing::UntilClose => self.body.clone(),
            Framing::LengthAndChunked(sizes) => {
                head.push_str(&len);
                head.push_str("transfer-encoding: chunked\r\n");
                chunk(&self.body, sizes, false, &[])
            }
            Framing::OtherCoding => {
                head.push_str("transfer-encoding: gzip\r\n");
                self.body.clone()
            }
        };
        head.push_str("\r\n");
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&self.stray);
        if let Some((at, byte)) = self.flip {
            let i = ((out.len() as f64) * at) as usize;
            if let Some(b) = out.get_mut(i) {
                *b = byte;
            }
        }
        out
    }
}

fn header() -> impl Strategy<Value = (String, String)> {
    let names = prop::sample::select(vec![
        "x-a",
        "X-B",
        "content-type",
        "etag",
        "set-cookie",
        "connection",
        "Connection",
        "x-empty",
    ]);
    let value = "[ -~]{0,24}".prop_map(|v| v.trim().to_owned());
    (names, value).prop_map(|(n, v)| {
        let v = match n.to_ascii_lowercase().as_str() {
            "connection" if v.len() % 2 == 0 => "close".to_owned(),
            "connection" => "keep-alive".to_owned(),
            _ => v,
        };
        (n.to_owned(), v)
    })
}

fn framing() -> impl Strategy<Value = Framing> {
    let sizes = prop::collection::vec(1usize..40, 0..8);
    let trailer = ("x-t[a-z]{0,3}", "[a-z0-9 ]{0,10}");
    prop_oneof![
        3 => Just(Framing::Length),
        3 => (sizes.clone(), any::<bool>(), prop::collection::vec(trailer, 0..3))
            .prop_map(|(s, e, t)| Framing::Chunked(s, e, t)),
        1 => Just(Framing::UntilClose),
        1 => sizes.prop_map(Framing::LengthAndChunked),
        1 => Just(Framing::OtherCoding),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let statuses = prop::sample::select(vec![200u16, 201, 204, 206, 299, 304, 404, 500, 503, 599]);
    let stray = prop_oneof![
        4 => Just(Vec::new()),
        1 => Just(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec()),
        1 => prop::collection::vec(any::<u8>(), 1..8),
    ];
    let flip = prop_oneof![3 => Just(None), 1 => (0.0f64..1.0, any::<u8>()).prop_map(Some)];
    (
        any::<bool>(),
        prop::collection::vec(prop::sample::select(vec![100u16, 102, 103]), 0..3),
        statuses,
        prop::sample::select(vec!["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0"]),
        prop::collection::vec(header(), 0..6),
        prop::collection::vec(any::<u8>(), 0..200),
        framing(),
        stray,
        flip,
        prop::collection::vec(1usize..64, 0..12),
    )
        .prop_map(
            |(
                head_request,
                interim,
                status,
                version,
                headers,
                body,
                framing,
                stray,
                flip,
                splits,
            )| {
                Case {
                    head_request,
                    interim,
                    status,
                    version,
                    headers,
                    body,
                    framing,
                    stray,
                    flip,
                    splits,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn our_exchange_reads_answers_as_hyper_does(case in case()) {
        let method = if case.head_request { Method::HEAD } else { Method::GET };
        let bytes = case.bytes();
        if let Err(disagreement) = compare(&method, &bytes, &case.splits) {
            prop_assert!(false, "{}", disagreement);
        }
    }

    /// A connection whose answer was followed by anything is never reused.
    #[test]
    fn bytes_after_the_answer_make_the_connection_unusable(
        stray in prop::collection::vec(any::<u8>(), 1..40),
        splits in prop::collection::vec(1usize..64, 0..6),
    ) {
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        let mut bytes = answer.to_vec();
        bytes.extend_from_slice(&stray);
        let (read, reusable) = ours(&Method::GET, &bytes, &splits);
        prop_assert!(matches!(read, Read::Answer(..)));
        // Whatever was read past the answer, or what is still to come, rules reuse out; only
        // when the pieces end exactly at the answer is the stray left in the stream, where
        // the pool's look at the socket finds it (tested against real sockets elsewhere).
        if splits.iter().scan(0, |at, n| { *at += n; Some(*at) }).all(|at| at != answer.len()) {
            prop_assert!(!reusable, "{:?}", String::from_utf8_lossy(&bytes));
        }
    }
}

#[test]
fn known_shapes_agree() {
    let get = Method::GET;
    for answer in [
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2;x=y\r\n{}\r\n0\r\nx-t: 1\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
        "HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n",
        "HTTP/1.0 200 OK\r\n\r\n{\"a\": 1}",
        "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd",
        "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\r\n\r\n",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n\r\n\r\n",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n;x\r\n\r\n",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\n",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
    ] {
        for splits in [vec![], vec![1; 200], vec![7, 3, 11, 5]] {
            if let Err(d) = compare(&get, answer.as_bytes(), &splits) {
                panic!("{d}");
            }
        }
    }
    // HEAD: no body whatever the head says.
    let head = "HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n";
    compare(&Method::HEAD, head.as_bytes(), &[]).unwrap();
}
