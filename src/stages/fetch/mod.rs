//! Stage *fetch*: the rendered request sent upstream on a pooled keep-alive
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

use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, USER_AGENT as USER_AGENT_NAME};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

mod connect;
pub mod h1;
mod origin;
mod pool;
mod request;
mod tls;

pub use origin::Origin;
use pool::Pool;
pub use request::{UpstreamRequest, is_sensitive_header};
pub use tls::{TlsError, TlsProfile};

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
    /// No credential could be had for the call (an OAuth2 token): the whole message, naming
    /// the connection or bridge and the endpoint's `error` code, never a secret.
    #[error("{0}")]
    Auth(String),
}

impl FetchError {
    pub fn status(&self) -> StatusCode {
        match self {
            FetchError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            FetchError::Timeout(_) => "upstream_timeout",
            FetchError::Connect => "upstream_unreachable",
            FetchError::TooLarge(_) => "upstream_too_large",
            FetchError::Failed(_) => "upstream_failed",
            FetchError::Auth(_) => "upstream_auth_failed",
        }
    }

    /// The `kind` label of `bridgeway_upstream_failures_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Timeout(_) => "timeout",
            FetchError::Connect => "connect",
            FetchError::TooLarge(_) => "too_large",
            FetchError::Failed(_) => "failed",
            FetchError::Auth(_) => "auth",
        }
    }
}

/// The upstream client: a pool of keep-alive connections per origin. One per server worker,
/// so a request only meets connections of its own thread. reqwest (whose engine hyper is)
/// costs a quarter of a fetch-post request in layers that do nothing here (redirect policy,
/// retries, its own URL type); it still talks to the Genesys Platform API, off the request path.
#[derive(Clone)]
pub struct Client {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("max_body", &self.pool.max_body)
            .finish_non_exhaustive()
    }
}

const USER_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("bridgeway/", env!("CARGO_PKG_VERSION")));

impl Client {
    pub fn new(max_body: usize) -> Self {
        Client {
            pool: Pool::start(max_body, None),
        }
    }

    /// A client for `bridgeway test`: every request, to whichever origin, goes over plain HTTP
    /// to the stand-in upstream at `addr` (a loopback address) instead.
    pub fn with_stand_in(max_body: usize, addr: std::net::SocketAddr) -> Self {
        Client {
            pool: Pool::start(max_body, Some(addr)),
        }
    }

    /// The stage: `request` sent, its answer read whole, all within the request's timeout.
    pub async fn send(&self, request: &UpstreamRequest) -> Result<UpstreamResponse, FetchError> {
        let timeout = request.timeout;
        let started = Instant::now();
        let answer = tokio::time::timeout(timeout, self.pool.exchange(request))
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

/// A final answer's status: 1xx are interim (and 101 would take the connection away), and
/// nothing above 599 is an HTTP status a caller can be given.
pub(super) fn is_final_status(status: StatusCode) -> bool {
    (200..600).contains(&status.as_u16())
}

pub(super) fn wire_error(error: h1::WireError, max_body: usize) -> FetchError {
    match error {
        h1::WireError::NoAnswer => failed(),
        h1::WireError::TooLarge => FetchError::TooLarge(max_body),
        h1::WireError::BrokeOff => FetchError::Failed("the answer broke off"),
        h1::WireError::Malformed(what) => FetchError::Failed(what),
    }
}

pub(super) fn failed() -> FetchError {
    FetchError::Failed("the request could not be completed")
}

pub(super) async fn read_capped(
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
pub(super) fn h2_request(
    request: &UpstreamRequest,
) -> Result<http::Request<Full<Bytes>>, http::Error> {
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
