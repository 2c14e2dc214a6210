//! Our own HTTP/1.1 exchange with an upstream, over plain TCP or TLS: one request written, one
//! answer read whole, on a keep-alive connection that the request holds for the exchange.
//!
//! httparse (the parser inside hyper) reads the answer's head; the body is framed by the rules
//! of RFC 9112 section 6.3. hyper's client still serves upstreams that choose HTTP/2. For
//! HTTP/1.1 hyper cost a fetch-post request a quarter of its instructions in work a gateway
//! that reads the whole answer never needs (a connection task woken through channels each way,
//! a header map built for every answer, a streaming body), and its connection task reads the
//! socket on its own schedule, so a pool cannot tell for certain whether an idle connection
//! has received something. Here the head is scanned for the headers that frame the body, a
//! header map is built only when a bridge reads one, and [`Stream::has_news`] looks at the
//! socket itself.
//!
//! Because this is our code on the wire, it is held to hyper's: `tests/upstream_differential.rs`
//! reads generated answers, split at arbitrary points, through both and requires the same
//! result, and `fuzz/` drives [`Conn::exchange`] with arbitrary bytes.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Longest answer head read; a longer one is not an answer this gateway can use.
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;
/// Longest chunk-size line, and longest trailer section, of a chunked answer.
const MAX_CHUNK_META: usize = 8 * 1024;
/// Interim (1xx) answers accepted before the real one.
const MAX_INTERIM: usize = 16;
/// Read at least this much at a time.
const READ_SIZE: usize = 16 * 1024;

/// An upstream connection: TCP, or TLS over TCP.
pub enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Tcp(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        }
    }

    /// Whether anything arrived (bytes, an end, an error) since the last answer was read. A
    /// real look: a peek at the socket (a system call, since the runtime's cached readiness
    /// can still say "nothing" for bytes that are there), and for TLS at the plaintext rustls
    /// may hold decrypted but unread.
    pub fn has_news(&mut self) -> bool {
        let mut probe = [MaybeUninit::<u8>::uninit(); 1];
        match socket2::SockRef::from(self.tcp()).peek(&mut probe) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            _ => return true,
        }
        match self {
            Stream::Tcp(_) => false,
            Stream::Tls(tls) => {
                let mut byte = [0u8; 1];
                let read = io::Read::read(&mut tls.get_mut().1.reader(), &mut byte);
                !matches!(read, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One keep-alive connection to an upstream, over `S` ([`Stream`] in the gateway; any byte
/// stream in the differential tests and fuzz targets).
pub struct Conn<S = Stream> {
    stream: S,
    /// Read and not yet used; kept between exchanges so its allocation is reused.
    buf: BytesMut,
    /// The request being written, likewise kept.
    out: Vec<u8>,
}

/// What to send.
pub struct Request<'a> {
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
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// Empty unless the request asked to keep them.
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The connection can carry the next request.
    pub reusable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The connection failed or ended before any of the answer came: a reused connection the
    /// upstream had closed while it sat idle, most likely.
    #[error("the connection ended before any answer")]
    NoAnswer,
    /// The answer is larger than the cap.
    #[error("the answer is larger than the cap")]
    TooLarge,
    /// The connection ended or failed part-way through the answer.
    #[error("the answer broke off")]
    BrokeOff,
    /// The bytes are not an HTTP/1.x answer this gateway can frame.
    #[error("{0}")]
    Malformed(&'static str),
}

impl Conn<Stream> {
    /// Whether the connection may carry another request: nothing arrived while it sat idle.
    /// An upstream that wrote anything unasked (a second answer, a 408 before closing, a
    /// close) is out of step with us, and whatever it wrote must never reach a caller.
    pub fn is_clean(&mut self) -> bool {
        self.buf.is_empty() && !self.stream.has_news()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(stream: S) -> Self {
        Conn {
            stream,
            buf: BytesMut::new(),
            out: Vec::new(),
        }
    }

    pub async fn exchange(
        &mut self,
        request: &Request<'_>,
        max_body: usize,
    ) -> Result<Answer, WireError> {
        write_request(&mut self.out, request);
        let written = async {
            self.stream.write_all(&self.out).await?;
            self.stream.flush().await
        };
        if written.await.is_err() {
            return Err(WireError::NoAnswer);
        }
        self.buf.clear();
        let head = self.read_final_head(request.keep_headers).await?;
        let no_body = *request.method == Method::HEAD
            || head.status == StatusCode::NO_CONTENT
            || head.status == StatusCode::NOT_MODIFIED;
        let (body, framed) = match head.framing {
            _ if no_body => (Bytes::new(), true),
            Framing::Faulty(why) => return Err(WireError::Malformed(why)),
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

    /// Reads answer heads until one that is not interim (1xx).
    async fn read_final_head(&mut self, keep_headers: bool) -> Result<Head, WireError> {
        for interim in 0..=MAX_INTERIM {
            let head = self.read_head(interim == 0, keep_headers).await?;
            if head.status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(WireError::Malformed("the upstream switched protocols"));
            }
            if !head.status.is_informational() {
                return Ok(head);
            }
        }
        Err(WireError::Malformed(
            "the upstream sent too many interim answers",
        ))
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

    /// `n` bytes; the caller has checked `n` against the cap.
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
                if let Some((used, size)) = parse_chunk_line(&self.buf)? {
                    self.buf.advance(used);
                    break size;
                }
                if !self.fill().await? {
                    return Err(WireError::BrokeOff);
                }
            };
            if size == 0 {
                return self.skip_trailers().await.map(|()| body.freeze());
            }
            // Compared without adding to `size`: a size near 2^64 must not wrap past the cap.
            if size > (max_body - body.len()) as u64 {
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

    /// Reads past the trailer section after the last chunk, up to the empty line. The fields
    /// are parsed (as hyper does) but not kept: nothing reads them. The section is bounded,
    /// however it is split into lines.
    async fn skip_trailers(&mut self) -> Result<(), WireError> {
        loop {
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::parse_headers(&self.buf, &mut slots) {
                // httparse allows a bare LF as a line end; hyper's chunked decoder does not.
                Ok(httparse::Status::Complete((used, _))) if has_bare_lf(&self.buf[..used]) => {
                    return Err(WireError::Malformed("a trailer line has a bare LF"));
                }
                Ok(httparse::Status::Complete((used, _))) => {
                    self.buf.advance(used);
                    return Ok(());
                }
                Ok(httparse::Status::Partial) if self.buf.len() <= MAX_CHUNK_META => {}
                Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
                    return Err(WireError::Malformed("the trailers are too large"));
                }
                Err(_) => return Err(WireError::Malformed("the trailers are not valid")),
            }
            if !self.fill().await? {
                return Err(WireError::BrokeOff);
            }
        }
    }
}

fn has_bare_lf(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .any(|(i, b)| *b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
}

/// A chunk-size line at the start of `buf` (RFC 9112 §7.1: hex digits, optional white space,
/// optional extensions, CRLF): its length and the size, or `None` if it is not all there yet.
/// At least one digit is required: a line without one would end the body early and let a
/// cut-off answer pass as whole. A size past `u64` is as good as one past the cap.
fn parse_chunk_line(buf: &[u8]) -> Result<Option<(usize, u64)>, WireError> {
    let invalid = WireError::Malformed("a chunk size is not valid");
    let Some(lf) = buf
        .iter()
        .take(MAX_CHUNK_META + 1)
        .position(|b| *b == b'\n')
    else {
        return if buf.len() > MAX_CHUNK_META {
            Err(invalid)
        } else {
            Ok(None)
        };
    };
    let line = buf[..lf].strip_suffix(b"\r").ok_or(invalid)?;
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(invalid);
    }
    let mut size: u64 = 0;
    for b in &line[..digits] {
        let digit = (*b as char).to_digit(16).unwrap_or_default();
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(digit)))
            .ok_or(WireError::TooLarge)?;
    }
    let rest = &line[digits..];
    let spaces = rest
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    match rest[spaces..].first() {
        None => {}
        // An extension runs to the line's end; a CR inside it is not a line end.
        Some(b';') if !rest.contains(&b'\r') => {}
        _ => return Err(invalid),
    }
    Ok(Some((lf + 1, size)))
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
    /// Refused, with this reason, if the answer has a body to frame.
    Faulty(&'static str),
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
        .filter(|c| (100..600).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(WireError::Malformed("the answer's status is not valid"))?;
    // Checked only if it frames the body: a transfer coding overrides it (RFC 9112 §6.3).
    let mut declared: Option<Result<u64, &'static str>> = None;
    let (mut chunked, mut coded, mut close) = (false, false, false);
    let mut headers = HeaderMap::new();
    for header in answer.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            declared = Some(match (declared, parse_length(header.value)) {
                (None | Some(Ok(_)), Err(e)) | (Some(Err(e)), _) => Err(e),
                (Some(Ok(seen)), Ok(n)) if seen != n => Err("the answer has conflicting lengths"),
                (_, Ok(n)) => Ok(n),
            });
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
    let framing = match (coded, chunked, declared) {
        // RFC 9112 §6.1: a transfer coding in an HTTP/1.0 answer makes its framing faulty.
        (true, _, _) if answer.version == Some(0) => {
            Framing::Faulty("an HTTP/1.0 answer cannot have a transfer coding")
        }
        (true, true, _) => Framing::Chunked,
        (true, false, _) => Framing::UntilClose,
        (false, _, Some(Ok(n))) => Framing::Length(n),
        (false, _, Some(Err(e))) => Framing::Faulty(e),
        (false, _, None) => Framing::UntilClose,
    };
    // HTTP/1.0 closes unless told otherwise, and this client does not ask it not to; a length
    // next to a transfer coding is a smuggling shape, so that connection is not reused.
    let keep_alive = answer.version == Some(1) && !close && !(coded && declared.is_some());
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

fn parse_length(value: &[u8]) -> Result<u64, &'static str> {
    let not_a_number = "the answer's content-length is not a number";
    let text = std::str::from_utf8(value).map_err(|_| not_a_number)?;
    let text = text.trim_matches([' ', '\t']);
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_a_number);
    }
    text.parse().map_err(|_| not_a_number)
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
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/1.1 600 Beyond\r\n\r\n",
            "HTTP/1.1 999 Beyond\r\n\r\n",
            "HTTP/1.1 099 Below\r\n\r\n",
            "HTTP/2 200 OK\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            assert!(
                matches!(head(text), Err(WireError::Malformed(_))),
                "{text:?}"
            );
        }
        assert!(head("HTTP/1.1 200 OK\r\nContent-Le").unwrap().is_none());
        // A length that cannot frame a body is refused when there is a body to frame; a
        // transfer coding overrides it, as in hyper.
        for text in [
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert!(matches!(framing(text).0, Framing::Faulty(_)), "{text:?}");
        }
        let coded = "HTTP/1.1 200 OK\r\nContent-Length: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(framing(coded), (Framing::Chunked, false));
    }

    /// A connected pair on loopback: ours (registered with the runtime) and the upstream's.
    async fn pair() -> (Conn, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        ours.set_nonblocking(true).unwrap();
        let (theirs, _) = listener.accept().unwrap();
        let ours = TcpStream::from_std(ours).unwrap();
        (Conn::new(Stream::Tcp(ours)), theirs)
    }

    /// The runtime's readiness for a socket is only news from its last turn of the reactor:
    /// on a single-threaded runtime that has not turned since, `try_read` answers "would
    /// block" for bytes that are there. The pool's look must not rely on it.
    #[tokio::test(flavor = "current_thread")]
    async fn bytes_that_came_while_idle_are_seen_before_the_reactor_runs() {
        use std::io::Write;
        let (mut conn, mut theirs) = pair().await;
        assert!(conn.is_clean(), "nothing came yet");
        theirs
            .write_all(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        // No await from here on: the reactor cannot run.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let Stream::Tcp(tcp) = &conn.stream else {
            unreachable!()
        };
        let mut probe = [0u8; 1];
        let cached = tcp.try_read(&mut probe);
        assert!(
            matches!(&cached, Err(e) if e.kind() == io::ErrorKind::WouldBlock),
            "the stale-readiness trap this test is about: {cached:?}"
        );
        assert!(!conn.is_clean(), "the socket itself says a byte came");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_close_while_idle_is_seen_too() {
        let (mut conn, theirs) = pair().await;
        drop(theirs);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!conn.is_clean());
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

    #[test]
    fn chunk_size_lines_are_read_as_hyper_reads_them() {
        for (line, want) in [
            ("0\r\n", Ok(Some((3, 0)))),
            ("1a\r\nrest", Ok(Some((4, 26)))),
            ("A \t;name=value\r\n", Ok(Some((16, 10)))),
            ("5;x\r\n", Ok(Some((5, 5)))),
            ("00000000000000000005\r\n", Ok(Some((22, 5)))),
            ("5", Ok(None)),
            ("5\r", Ok(None)),
            ("", Ok(None)),
        ] {
            assert_eq!(parse_chunk_line(line.as_bytes()), want, "{line:?}");
        }
        let invalid = Err(WireError::Malformed("a chunk size is not valid"));
        for line in [
            "\r\n",
            " \r\n",
            ";x\r\n",
            "x\r\n",
            "5 5\r\n",
            "5x\r\n",
            "5\n",
            "5;a\rb\r\n",
            "-5\r\n",
            "+5\r\n",
            "0x5\r\n",
        ] {
            assert_eq!(parse_chunk_line(line.as_bytes()), invalid, "{line:?}");
        }
        // Past u64 is past any cap; a line that never ends is refused once it is too long.
        assert_eq!(
            parse_chunk_line(b"1FFFFFFFFFFFFFFFF\r\n"),
            Err(WireError::TooLarge)
        );
        assert_eq!(
            parse_chunk_line(b"FFFFFFFFFFFFFFFD\r\n"),
            Ok(Some((18, u64::MAX - 2)))
        );
        let endless = format!("5;{}", "x".repeat(MAX_CHUNK_META));
        assert_eq!(parse_chunk_line(endless.as_bytes()), invalid);
    }
}
