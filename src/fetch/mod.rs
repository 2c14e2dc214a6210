//! Step 3 of the pipeline, *fetch*: the rendered request sent upstream on a pooled keep-alive
//! connection of the worker's own pool. HTTP/1.1 runs on our own exchange ([`h1`]) over TCP or
//! TLS; an `https` upstream that chooses HTTP/2 by ALPN gets hyper's HTTP/2 client.
//!
//! The client never follows redirects and ignores proxy variables from the environment: either
//! would let a request leave the host the bridge names. Every call is bounded by the bridge's
//! timeout (connecting, sending and reading the whole body) and by a cap on the body size.
//!
//! No caller may receive an answer that was not sent for its own request. An HTTP/1.1
//! connection goes back to the pool only when its answer was framed exactly, nothing followed
//! it, and the upstream did not ask to close; before it is used again, [`h1::Conn::is_clean`]
//! looks at the socket itself, and a connection on which anything arrived while it sat idle is
//! closed, never used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once, Weak};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, USER_AGENT as USER_AGENT_NAME};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2;

use crate::render::UpstreamRequest;

mod connect;
pub mod h1;
mod origin;

use connect::{Connector, Opened};
pub use origin::Origin;

pub const DEFAULT_MAX_UPSTREAM_BODY: usize = 10 * 1024 * 1024;

/// The upstream's answer, read whole.
#[derive(Debug)]
pub struct UpstreamResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub elapsed: Duration,
}

/// Why no answer came back. Messages never include the URL: it may carry a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("the upstream did not answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("could not connect to the upstream")]
    Connect,
    #[error("the upstream answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the upstream call failed: {0}")]
    Failed(&'static str),
}

/// How long a pooled connection may sit unused before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle HTTP/1.1 connections kept per origin; more are closed when they come back.
const MAX_IDLE_PER_ORIGIN: usize = 256;

/// One upstream connection. An HTTP/2 one is shared by concurrent requests (the pool keeps a
/// handle while requests use others); an HTTP/1.1 one carries one exchange at a time and is
/// taken out of the pool for it.
enum Sender {
    H1(h1::Conn),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl From<Opened> for Sender {
    fn from(opened: Opened) -> Self {
        match opened {
            Opened::H1(conn) => Sender::H1(conn),
            Opened::H2(sender) => Sender::H2(sender),
        }
    }
}

impl Sender {
    /// May carry another request; for HTTP/1.1 a look at the socket (see [`h1::Conn::is_clean`]).
    fn is_usable(&mut self) -> bool {
        match self {
            Sender::H1(conn) => conn.is_clean(),
            Sender::H2(sender) => !sender.is_closed(),
        }
    }
}

struct Idle {
    sender: Sender,
    since: Instant,
}

/// One exchange's result, as the retry rule sees it.
enum Attempt {
    Answered(Result<Answer, FetchError>),
    /// The upstream did not act on the request (it closed the connection before answering, or
    /// answered 408 on a reused one): it may go once more on a new connection.
    NotActedOn(FetchError),
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// The upstream client: a pool of keep-alive connections per origin. One per server worker,
/// so a request only meets connections of its own thread. reqwest (whose engine hyper is)
/// costs a quarter of a fetch-post request in layers that do nothing here (redirect policy,
/// retries, its own URL type); it still talks to the Genesys Platform API, off the request path.
#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Pool>,
}

struct Pool {
    connector: Connector,
    idle: Mutex<HashMap<Box<str>, Vec<Idle>>>,
    max_body: usize,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("max_body", &self.inner.max_body)
            .finish_non_exhaustive()
    }
}

const USER_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("bridgeway/", env!("CARGO_PKG_VERSION")));

impl Upstream {
    pub fn new(max_body: usize) -> Self {
        let inner = Arc::new(Pool {
            connector: Connector::new(),
            idle: Mutex::new(HashMap::new()),
            max_body,
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(close_idle(Arc::downgrade(&inner)));
        }
        Upstream { inner }
    }

    pub async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, FetchError> {
        let timeout = request.timeout;
        let started = Instant::now();
        let answer = tokio::time::timeout(timeout, self.inner.exchange(&request))
            .await
            .unwrap_or(Err(FetchError::Timeout(timeout)))?;
        Ok(UpstreamResponse {
            status: answer.status,
            headers: answer.headers,
            body: answer.body,
            elapsed: started.elapsed(),
        })
    }
}

impl Pool {
    /// Sends on a pooled connection if a usable one is there, else on a new one. A request the
    /// upstream did not act on (a pooled connection it had just closed) goes once more on a
    /// new connection, if its method allows.
    async fn exchange(&self, request: &UpstreamRequest) -> Result<Answer, FetchError> {
        let origin = &*request.origin;
        let (sender, reused) = match self.checkout(origin) {
            Some(sender) => (sender, true),
            None => (self.open(origin).await?, false),
        };
        match self.attempt(sender, request, reused).await {
            Attempt::Answered(answer) => answer,
            Attempt::NotActedOn(_) if reused => {
                let sender = self.open(origin).await?;
                match self.attempt(sender, request, false).await {
                    Attempt::Answered(answer) => answer,
                    Attempt::NotActedOn(e) => Err(e),
                }
            }
            Attempt::NotActedOn(e) => Err(e),
        }
    }

    async fn attempt(&self, sender: Sender, request: &UpstreamRequest, reused: bool) -> Attempt {
        match sender {
            Sender::H1(conn) => self.attempt_h1(conn, request, reused).await,
            Sender::H2(sender) => self.attempt_h2(sender, request).await,
        }
    }

    async fn attempt_h1(
        &self,
        mut conn: h1::Conn,
        request: &UpstreamRequest,
        reused: bool,
    ) -> Attempt {
        let wire = h1::Request {
            method: &request.method,
            target: &request.target,
            host: &request.origin.host,
            headers: &request.headers,
            body: request.body.as_deref().unwrap_or_default(),
            keep_headers: request.keep_headers,
        };
        match conn.exchange(&wire, self.max_body).await {
            // A request that may have been acted on is never sent twice.
            Err(h1::WireError::NoAnswer) if request.method.is_idempotent() => {
                Attempt::NotActedOn(failed())
            }
            // On a reused connection a 408 is the upstream timing the idle connection out as
            // the request went out: the request was not read.
            Ok(answer) if reused && answer.status == StatusCode::REQUEST_TIMEOUT => {
                Attempt::NotActedOn(failed())
            }
            Ok(answer) => {
                if answer.reusable {
                    self.give_back(&request.origin, Sender::H1(conn));
                }
                Attempt::Answered(Ok(Answer {
                    status: answer.status,
                    headers: answer.headers,
                    body: answer.body,
                }))
            }
            Err(e) => Attempt::Answered(Err(wire_error(e, self.max_body))),
        }
    }

    async fn attempt_h2(
        &self,
        mut sender: http2::SendRequest<Full<Bytes>>,
        request: &UpstreamRequest,
    ) -> Attempt {
        let Ok(outgoing) = h2_request(request) else {
            return Attempt::Answered(Err(FetchError::Failed("the upstream URL is not valid")));
        };
        let response = match sender.try_send_request(outgoing).await {
            Ok(response) => response,
            Err(mut e) => {
                // Not sent at all, or sent and dropped unanswered: the latter only for methods
                // that are safe to repeat.
                let unsent = e.take_message().is_some();
                return match unsent || request.method.is_idempotent() {
                    true => Attempt::NotActedOn(failed()),
                    false => Attempt::Answered(Err(failed())),
                };
            }
        };
        let (parts, body) = response.into_parts();
        if !is_final_status(parts.status) {
            return Attempt::Answered(Err(FetchError::Failed("the answer's status is not valid")));
        }
        Attempt::Answered(
            read_capped(&parts.headers, body, self.max_body)
                .await
                .map(|body| Answer {
                    status: parts.status,
                    headers: parts.headers,
                    body,
                }),
        )
    }

    /// A usable idle connection to `origin`. HTTP/1.1 ones are taken out; an HTTP/2 one is
    /// shared, so it stays.
    fn checkout(&self, origin: &Origin) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(&*origin.key)?;
        while let Some(mut entry) = list.pop() {
            if entry.since.elapsed() > IDLE_TIMEOUT || !entry.sender.is_usable() {
                continue;
            }
            if let Sender::H2(shared) = &entry.sender {
                let clone = shared.clone();
                entry.since = Instant::now();
                list.push(entry);
                return Some(Sender::H2(clone));
            }
            return Some(entry.sender);
        }
        None
    }

    async fn open(&self, origin: &Origin) -> Result<Sender, FetchError> {
        let sender = Sender::from(self.connector.open(origin).await?);
        if let Sender::H2(shared) = &sender {
            self.give_back(origin, Sender::H2(shared.clone()));
        }
        Ok(sender)
    }

    fn give_back(&self, origin: &Origin, sender: Sender) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = match idle.get_mut(&*origin.key) {
            Some(list) => list,
            None => idle.entry(origin.key.clone()).or_default(),
        };
        match sender {
            // The pool already holds this connection's handle.
            Sender::H2(_) if list.iter().any(|e| matches!(e.sender, Sender::H2(_))) => {}
            _ if list.len() >= MAX_IDLE_PER_ORIGIN => {}
            sender => list.push(Idle {
                sender,
                since: Instant::now(),
            }),
        }
    }
}

/// Closes connections idle for longer than [`IDLE_TIMEOUT`], or on which the upstream wrote
/// or closed, until the pool is dropped.
async fn close_idle(pool: Weak<Pool>) {
    let mut tick = tokio::time::interval(IDLE_TIMEOUT / 2);
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let mut idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
        for list in idle.values_mut() {
            list.retain_mut(|e| e.since.elapsed() <= IDLE_TIMEOUT && e.sender.is_usable());
        }
        idle.retain(|_, list| !list.is_empty());
    }
}

/// A final answer's status: 1xx are interim (and 101 would take the connection away), and
/// nothing above 599 is an HTTP status a caller can be given.
fn is_final_status(status: StatusCode) -> bool {
    (200..600).contains(&status.as_u16())
}

fn wire_error(error: h1::WireError, max_body: usize) -> FetchError {
    match error {
        h1::WireError::NoAnswer => failed(),
        h1::WireError::TooLarge => FetchError::TooLarge(max_body),
        h1::WireError::BrokeOff => FetchError::Failed("the answer broke off"),
        h1::WireError::Malformed(what) => FetchError::Failed(what),
    }
}

fn failed() -> FetchError {
    FetchError::Failed("the request could not be completed")
}

async fn read_capped(
    headers: &HeaderMap,
    mut body: Incoming,
    max_body: usize,
) -> Result<Bytes, FetchError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body as u64) {
        return Err(FetchError::TooLarge(max_body));
    }
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| FetchError::Failed("the answer broke off"))?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        let so_far = first.as_ref().map_or(0, Bytes::len) + rest.len();
        if chunk.len() > max_body - so_far {
            return Err(FetchError::TooLarge(max_body));
        }
        // Most answers arrive in one chunk: keep it as it is instead of copying it.
        match &first {
            None => first = Some(chunk),
            Some(head) => {
                if rest.is_empty() {
                    rest.extend_from_slice(head);
                }
                rest.extend_from_slice(&chunk);
            }
        }
    }
    Ok(if rest.is_empty() {
        first.unwrap_or_default()
    } else {
        rest.freeze()
    })
}

/// The rendered request as hyper's HTTP/2 client takes it: scheme and authority in the URI.
fn h2_request(request: &UpstreamRequest) -> Result<http::Request<Full<Bytes>>, http::Error> {
    let origin = &request.origin;
    let uri = Uri::builder()
        .scheme(origin.scheme.clone())
        .authority(origin.authority.clone())
        .path_and_query(request.target.as_str())
        .build()?;
    let body = request.body.clone().map(Bytes::from).unwrap_or_default();
    let mut out = http::Request::new(Full::new(body));
    *out.method_mut() = request.method.clone();
    *out.uri_mut() = uri;
    *out.headers_mut() = request.headers.clone();
    out.headers_mut()
        .entry(USER_AGENT_NAME)
        .or_insert(USER_AGENT);
    // Connection-specific headers are not allowed in HTTP/2; the gateway frames the body.
    for name in [
        "connection",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    ] {
        out.headers_mut().remove(name);
    }
    Ok(out)
}

/// rustls is built without a default crypto provider so the whole binary uses ring.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An error only means another provider was installed first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
