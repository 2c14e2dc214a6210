//! Our own HTTP/1.1 exchange (`bridgeway::stages::fetch::h1`) and hyper's client
//! (`hyper::client::conn::http1`), the library it stands in for, reading the same answer bytes
//! delivered in the same pieces; and the rule for comparing them. Shared by
//! `tests/upstream_differential.rs` and the fuzz target `fuzz/fuzz_targets/h1_vs_hyper.rs`.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bridgeway::stages::fetch::h1::{Conn, Request, WireError};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub const MAX_BODY: usize = 64 * 1024;

/// The answer's bytes, handed out in the given pieces once the request has been written, then
/// the end of the stream. What is written to it is dropped.
pub struct Pieces {
    pieces: VecDeque<Vec<u8>>,
    asked: bool,
    reader: Option<std::task::Waker>,
}

impl Pieces {
    pub fn new(bytes: &[u8], splits: &[usize]) -> Self {
        let mut pieces = VecDeque::new();
        let mut rest = bytes;
        for &at in splits {
            if rest.is_empty() {
                break;
            }
            let (piece, tail) = rest.split_at(at.clamp(1, rest.len()));
            pieces.push_back(piece.to_vec());
            rest = tail;
        }
        if !rest.is_empty() {
            pieces.push_back(rest.to_vec());
        }
        Pieces {
            pieces,
            asked: false,
            reader: None,
        }
    }
}

impl AsyncRead for Pieces {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // An upstream answers once asked; hyper refuses bytes that come before its request.
        if !self.asked {
            self.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if let Some(mut piece) = self.pieces.pop_front() {
            let n = piece.len().min(buf.remaining());
            buf.put_slice(&piece[..n]);
            if n < piece.len() {
                self.pieces.push_front(piece.split_off(n));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Pieces {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.asked = true;
        if let Some(reader) = self.reader.take() {
            reader.wake();
        }
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// What a client made of an answer: status, headers and body, or a refusal.
#[derive(Debug, PartialEq)]
pub enum Read {
    Answer(StatusCode, HeaderMap, Bytes),
    Refused(String),
}

pub fn ours(method: &Method, bytes: &[u8], splits: &[usize]) -> (Read, bool) {
    block_on(async {
        let mut conn = Conn::new(Pieces::new(bytes, splits));
        let (host, headers) = (HeaderValue::from_static("h"), HeaderMap::new());
        let request = Request {
            method,
            target: "/x",
            host: &host,
            headers: &headers,
            body: b"",
            keep_headers: true,
        };
        let exchange = conn.exchange(&request, MAX_BODY);
        match tokio::time::timeout(Duration::from_secs(2), exchange).await {
            Ok(Ok(a)) => (Read::Answer(a.status, a.headers, a.body), a.reusable),
            Ok(Err(e)) => (Read::Refused(wire(e)), false),
            Err(_) => (Read::Refused("hung".into()), false),
        }
    })
}

fn wire(e: WireError) -> String {
    format!("{e:?}")
}

pub fn hypers(method: &Method, bytes: &[u8], splits: &[usize]) -> Read {
    block_on(async {
        let io = TokioIo::new(Pieces::new(bytes, splits));
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(io)
            .await
            .unwrap();
        tokio::spawn(conn);
        let request = http::Request::builder()
            .method(method.clone())
            .uri("/x")
            .header("host", "h")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let exchange = async {
            let response = sender.send_request(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, hyper::Error>((parts, body))
        };
        match tokio::time::timeout(Duration::from_secs(2), exchange).await {
            Ok(Ok((parts, body))) if body.len() > MAX_BODY => {
                let _ = parts;
                Read::Refused("TooLarge".into())
            }
            Ok(Ok((parts, body))) => Read::Answer(parts.status, parts.headers, body),
            Ok(Err(e)) => Read::Refused(e.to_string()),
            Err(_) => Read::Refused("hung".into()),
        }
    })
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    RUNTIME.with(|runtime| runtime.block_on(future))
}

/// Where the gateway refuses what hyper reads, on purpose; `None` when the difference is
/// not one of these.
pub fn stricter_on_purpose(answer: &[u8], hyper: &Read) -> Option<&'static str> {
    let Read::Answer(status, ..) = hyper else {
        return None;
    };
    let text = String::from_utf8_lossy(answer).to_ascii_lowercase();
    if status.as_u16() >= 600 || *status == StatusCode::SWITCHING_PROTOCOLS {
        return Some("a status no caller can be given");
    }
    if text.contains("transfer-encoding") && text.matches("\r\n").count() > 40 {
        return Some("a trailer section over the gateway's 8 KiB bound");
    }
    None
}

/// Compares the two clients on one answer; `Err` describes a disagreement.
pub fn compare(method: &Method, bytes: &[u8], splits: &[usize]) -> Result<(), String> {
    let (mine, reusable) = ours(method, bytes, splits);
    let theirs = hypers(method, bytes, splits);
    let text = String::from_utf8_lossy(bytes);
    match (&mine, &theirs) {
        (Read::Answer(..), Read::Answer(..)) if mine != theirs => Err(format!(
            "different answers for {text:?}:\n ours {mine:?}\nhyper {theirs:?}"
        )),
        (Read::Answer(..), Read::Refused(why)) => Err(format!(
            "we read what hyper refuses ({why}) in {text:?}: {mine:?} (reusable: {reusable})"
        )),
        (Read::Refused(why), Read::Answer(..)) if stricter_on_purpose(bytes, &theirs).is_none() => {
            Err(format!(
                "we refuse ({why}) what hyper reads in {text:?}: {theirs:?}"
            ))
        }
        _ => Ok(()),
    }
}
