//! HTTP/1.1 to a plain `http` upstream: one request written, one answer read whole, on a
//! keep-alive TCP connection that the request holds for the exchange.
//!
//! httparse (the parser inside hyper) reads the answer's head; the body is framed by the rules
//! of RFC 9112 section 6.3. hyper's client still serves `https` upstreams (TLS, HTTP/2); for
//! plain HTTP it cost a fetch-post request a quarter of its instructions in work a gateway
//! that reads the whole answer never needs: a connection task woken through channels each
//! way, a header map built for every answer, a streaming body. Here the head is scanned for the
//! three headers that frame the body, and a header map is built only when a bridge reads one.

use std::io;
use std::mem::MaybeUninit;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest answer head read; a longer one is not an answer this gateway can use.
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;
/// Longest chunk-size line or trailer section of a chunked answer.
const MAX_CHUNK_META: usize = 8 * 1024;
/// Read at least this much at a time.
const READ_SIZE: usize = 16 * 1024;

/// One keep-alive connection to a plain-HTTP upstream.
pub(super) struct Conn {
    stream: TcpStream,
    /// Read and not yet used; kept between exchanges so its allocation is reused.
    buf: BytesMut,
    /// The request being written, likewise kept.
    out: Vec<u8>,
}

/// What to send.
pub(super) struct Request<'a> {
    pub method: &'a Method,
    /// Path and query, already a valid request target.
    pub target: &'a str,
    pub host: &'a HeaderValue,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// Build the answer's header map (a bridge reads an upstream header).
    pub keep_headers: bool,
}

/// The answer, read whole.
pub(super) struct Answer {
    pub status: StatusCode,
    /// Empty unless the request asked to keep them.
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The connection can carry the next request.
    pub reusable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WireError {
    /// The connection failed or ended before any of the answer came: a reused connection the
    /// upstream had closed while it sat idle, most likely.
    NoAnswer,
    /// The answer is larger than the cap.
    TooLarge,
    /// The connection ended or failed part-way through the answer.
    BrokeOff,
    /// The bytes are not an HTTP/1.x answer this gateway can frame.
    Malformed(&'static str),
}

impl Conn {
    pub async fn connect(host: &str, port: u16) -> io::Result<Self> {
        // An IPv6 literal comes bracketed from the URL; the resolver wants it bare.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: BytesMut::new(),
            out: Vec::new(),
        })
    }

    /// Whether the upstream closed the connection, or sent something unasked, while it sat
    /// idle. Costs no system call unless the socket has news: after an answer is read to its
    /// end the runtime knows the socket is drained.
    pub fn is_closed(&self) -> bool {
        let mut probe = [0u8; 1];
        !matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    pub async fn exchange(
        &mut self,
        request: &Request<'_>,
        max_body: usize,
    ) -> Result<Answer, WireError> {
        write_request(&mut self.out, request);
        if self.stream.write_all(&self.out).await.is_err() {
            return Err(WireError::NoAnswer);
        }
        self.buf.clear();
        let mut first = true;
        let head = loop {
            let head = self.read_head(first, request.keep_headers).await?;
            first = false;
            // 1xx answers are interim: the real one follows.
            if !head.status.is_informational() {
                break head;
            }
            if head.status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(WireError::Malformed("the upstream switched protocols"));
            }
        };
        let no_body = *request.method == Method::HEAD
            || head.status == StatusCode::NO_CONTENT
            || head.status == StatusCode::NOT_MODIFIED;
        let (body, framed) = match head.framing {
            _ if no_body => (Bytes::new(), true),
            Framing::Length(n) if n > max_body as u64 => return Err(WireError::TooLarge),
            Framing::Length(n) => (self.read_exact(n as usize).await?, true),
            Framing::Chunked => (self.read_chunked(max_body).await?, true),
            Framing::UntilClose => (self.read_to_close(max_body).await?, false),
        };
        Ok(Answer {
            status: head.status,
            headers: head.headers,
            body,
            // Bytes beyond the answer were never asked for: the connection is out of step.
            reusable: framed && head.keep_alive && self.buf.is_empty(),
        })
    }

    /// Reads more into the buffer; `Ok(false)` at the end of the stream.
    async fn fill(&mut self) -> Result<bool, WireError> {
        if self.buf.capacity() - self.buf.len() < READ_SIZE / 4 {
            self.buf.reserve(READ_SIZE);
        }
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Ok(false),
            Ok(_) => Ok(true),
            Err(_) => Err(WireError::BrokeOff),
        }
    }

    /// Reads an answer head; `first` when nothing of the answer has come yet.
    async fn read_head(&mut self, first: bool, keep_headers: bool) -> Result<Head, WireError> {
        loop {
            if let Some((length, head)) = parse_head(&self.buf, keep_headers)? {
                self.buf.advance(length);
                return Ok(head);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(WireError::Malformed("the answer's head is too large"));
            }
            let started = !first || !self.buf.is_empty();
            match self.fill().await {
                Ok(true) => {}
                Ok(false) | Err(_) if !started => return Err(WireError::NoAnswer),
                _ => return Err(WireError::BrokeOff),
            }
        }
    }

    async fn read_exact(&mut self, n: usize) -> Result<Bytes, WireError> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err(WireError::BrokeOff);
            }
        }
        Ok(self.buf.split_to(n).freeze())
    }

    async fn read_to_close(&mut self, max_body: usize) -> Result<Bytes, WireError> {
        while self.fill().await? {
            if self.buf.len() > max_body {
                return Err(WireError::TooLarge);
            }
        }
        Ok(self.buf.split().freeze())
    }

    async fn read_chunked(&mut self, max_body: usize) -> Result<Bytes, WireError> {
        let mut body = BytesMut::new();
        loop {
            let size = loop {
                match httparse::parse_chunk_size(&self.buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.buf.advance(used);
                        break size;
                    }
                    Ok(httparse::Status::Partial) if self.buf.len() <= MAX_CHUNK_META => {
                        if !self.fill().await? {
                            return Err(WireError::BrokeOff);
                        }
                    }
                    _ => return Err(WireError::Malformed("a chunk size is not valid")),
                }
            };
            if size == 0 {
                return self.skip_trailers().await.map(|()| body.freeze());
            }
            if body.len() as u64 + size > max_body as u64 {
                return Err(WireError::TooLarge);
            }
            let data = self.read_exact(size as usize + 2).await?;
            if !data.ends_with(b"\r\n") {
                return Err(WireError::Malformed(
                    "a chunk does not end where its size says",
                ));
            }
            body.extend_from_slice(&data[..data.len() - 2]);
        }
    }

    /// Reads past the trailer fields after the last chunk, up to the empty line.
    async fn skip_trailers(&mut self) -> Result<(), WireError> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                self.buf.advance(end + 2);
                if end == 0 {
                    return Ok(());
                }
                continue;
            }
            if self.buf.len() > MAX_CHUNK_META {
                return Err(WireError::Malformed("the trailers are too large"));
            }
            if !self.fill().await? {
                return Err(WireError::BrokeOff);
            }
        }
    }
}

/// The request line, the headers and the body, in one buffer: one write.
fn write_request(out: &mut Vec<u8>, request: &Request<'_>) {
    out.clear();
    out.reserve(256 + request.body.len());
    out.extend_from_slice(request.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(request.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !request.headers.contains_key(HOST) {
        put_header(out, &HOST, request.host);
    }
    if !request.headers.contains_key(USER_AGENT) {
        put_header(out, &USER_AGENT, &super::USER_AGENT);
    }
    for (name, value) in request.headers {
        // The body's framing is this module's to say, never a bridge's.
        if name != CONTENT_LENGTH && name != TRANSFER_ENCODING {
            put_header(out, name, value);
        }
    }
    let has_body = !request.body.is_empty()
        || matches!(*request.method, Method::POST | Method::PUT | Method::PATCH);
    if has_body {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(request.body.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(request.body);
}

fn put_header(out: &mut Vec<u8>, name: &HeaderName, value: &HeaderValue) {
    out.extend_from_slice(name.as_str().as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// How the answer's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

struct Head {
    status: StatusCode,
    headers: HeaderMap,
    framing: Framing,
    keep_alive: bool,
}

/// The answer head at the start of `buf` and its length, or `None` if it is not all there yet.
fn parse_head(buf: &[u8], keep_headers: bool) -> Result<Option<(usize, Head)>, WireError> {
    // Left uninitialised: httparse fills what it uses, and zeroing them all cost more than
    // parsing a typical head.
    let mut slots = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut answer = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut answer,
        buf,
        &mut slots,
    );
    let length = match parsed {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(WireError::Malformed("the answer has too many headers"));
        }
        Err(_) => return Err(WireError::Malformed("the answer is not HTTP/1.x")),
    };
    let status = answer
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(WireError::Malformed("the answer's status is not valid"))?;
    let mut length_seen: Option<u64> = None;
    let (mut chunked, mut coded, mut close) = (false, false, false);
    let mut headers = HeaderMap::new();
    for header in answer.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = parse_length(header.value)?;
            if length_seen.is_some_and(|seen| seen != n) {
                return Err(WireError::Malformed("the answer has conflicting lengths"));
            }
            length_seen = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Only a final `chunked` frames the body; any other coding runs to the close.
            coded = true;
            chunked = last_token(header.value).eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close |= has_token(header.value, b"close");
        }
        if keep_headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| WireError::Malformed("a header name is not valid"))?;
            let value = HeaderValue::from_bytes(header.value)
                .map_err(|_| WireError::Malformed("a header value is not valid"))?;
            headers.append(name, value);
        }
    }
    let framing = match (coded, chunked, length_seen) {
        (true, true, _) => Framing::Chunked,
        (true, false, _) => Framing::UntilClose,
        (false, _, Some(n)) => Framing::Length(n),
        (false, _, None) => Framing::UntilClose,
    };
    // HTTP/1.0 closes unless told otherwise, and this client does not ask it not to; a length
    // next to a transfer coding is a smuggling shape, so that connection is not reused.
    let keep_alive = answer.version == Some(1) && !close && !(coded && length_seen.is_some());
    Ok(Some((
        length,
        Head {
            status,
            headers,
            framing,
            keep_alive,
        },
    )))
}

fn parse_length(value: &[u8]) -> Result<u64, WireError> {
    let text = std::str::from_utf8(value).map_err(|_| WireError::Malformed("bad length"))?;
    let text = text.trim_matches([' ', '\t']);
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WireError::Malformed(
            "the answer's content-length is not a number",
        ));
    }
    text.parse()
        .map_err(|_| WireError::Malformed("the answer's content-length is not a number"))
}

fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|b| *b == b',').map(|t| t.trim_ascii())
}

fn last_token(value: &[u8]) -> &[u8] {
    tokens(value)
        .filter(|t| !t.is_empty())
        .last()
        .unwrap_or_default()
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    tokens(value).any(|t| t.eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<(usize, Head)>, WireError> {
        parse_head(text.as_bytes(), true)
    }

    fn framing(text: &str) -> (Framing, bool) {
        let (_, h) = head(text).unwrap().unwrap();
        (h.framing, h.keep_alive)
    }

    #[test]
    fn the_body_is_framed_as_rfc_9112_says() {
        use Framing::*;
        for (text, want) in [
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n",
                (Length(12), true),
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 3\r\n\r\n",
                (Length(3), true),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                (Chunked, true),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                (Chunked, true),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                (UntilClose, true),
            ),
            // A length beside a transfer coding: the coding frames it, and the connection ends.
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                (Chunked, false),
            ),
            (
                "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 1\r\n\r\n",
                (Length(1), false),
            ),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
                (Length(1), false),
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", (UntilClose, true)),
        ] {
            assert_eq!(framing(text), want, "{text:?}");
        }
    }

    #[test]
    fn heads_that_cannot_be_framed_are_refused() {
        for text in [
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/2 200 OK\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            assert!(
                matches!(head(text), Err(WireError::Malformed(_))),
                "{text:?}"
            );
        }
        assert!(head("HTTP/1.1 200 OK\r\nContent-Le").unwrap().is_none());
    }

    #[test]
    fn the_request_is_written_with_host_agent_and_length() {
        let mut headers = HeaderMap::new();
        headers.insert("accept", HeaderValue::from_static("application/json"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("999"));
        let host = HeaderValue::from_static("api.example.com:8080");
        let mut out = Vec::new();
        let request = |method, body| Request {
            method,
            target: "/posts/7?x=1",
            host: &host,
            headers: &headers,
            body,
            keep_headers: false,
        };
        write_request(&mut out, &request(&Method::POST, b"{}"));
        let agent = concat!("bridgeway/", env!("CARGO_PKG_VERSION"));
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            format!(
                "POST /posts/7?x=1 HTTP/1.1\r\nhost: api.example.com:8080\r\nuser-agent: {agent}\r\n\
                 accept: application/json\r\ncontent-length: 2\r\n\r\n{{}}"
            )
        );
        write_request(&mut out, &request(&Method::GET, b""));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("GET /posts/7?x=1 HTTP/1.1\r\n"), "{text}");
        assert!(!text.contains("content-length"), "{text}");
    }
}
