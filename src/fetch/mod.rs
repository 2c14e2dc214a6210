//! Step 3 of the pipeline, *fetch*: the rendered request sent upstream on a pooled keep-alive
//! connection of the worker's own pool: [`plain`] HTTP/1.1 for `http` upstreams, hyper's client
//! (TLS by hyper-rustls, HTTP/2 where offered) for `https` ones.
//!
//! The client never follows redirects and ignores proxy variables from the environment: either
//! would let a request leave the host the bridge names. Every call is bounded by the bridge's
//! timeout (connecting, sending and reading the whole body) and by a cap on the body size.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once, Weak};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, HOST, USER_AGENT as USER_AGENT_NAME};
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderValue, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::TokioExecutor;
use tower_service::Service;
use url::Url;

use crate::render::UpstreamRequest;

mod plain;

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

/// The connector: plain TCP or TLS (rustls on ring, the platform's roots), HTTP/1.1 or HTTP/2
/// by ALPN. Nothing in it reads proxy variables.
type Connector = HttpsConnector<HttpConnector>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a pooled connection may sit unused before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle HTTP/1.1 connections kept per origin; more are closed when they come back.
const MAX_IDLE_PER_ORIGIN: usize = 256;

/// Where a bridge's requests go: the fixed origin of its upstream URL, prepared at load so the
/// request path neither parses nor formats it again. Also the key of its connection pool.
#[derive(Debug)]
pub struct Origin {
    key: Box<str>,
    scheme: Scheme,
    authority: Authority,
    host: HeaderValue,
    root: Uri,
}

impl Origin {
    /// `scheme://authority`.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The origin of an `http` or `https` URL with a host; the URL's path and query are ignored.
    pub fn of(url: &Url) -> Result<Self, String> {
        let host = url.host_str().ok_or("the URL names no host")?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let scheme = match url.scheme() {
            "http" => Scheme::HTTP,
            "https" => Scheme::HTTPS,
            other => return Err(format!("`{other}` is not http or https")),
        };
        let invalid = |e: &dyn std::fmt::Display| format!("`{authority}`: {e}");
        let parsed = Authority::try_from(authority.as_str()).map_err(|e| invalid(&e))?;
        let root = Uri::builder()
            .scheme(scheme.clone())
            .authority(parsed.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| invalid(&e))?;
        Ok(Origin {
            key: format!("{scheme}://{authority}").into(),
            host: HeaderValue::try_from(authority.as_str()).map_err(|e| invalid(&e))?,
            scheme,
            authority: parsed,
            root,
        })
    }
}

/// One upstream connection (for hyper's, its sending half). An HTTP/2 one is shared by
/// concurrent requests; an HTTP/1.1 one carries one exchange at a time and is taken out of the
/// pool for it. `http` upstreams get [`plain`] connections, `https` ones hyper's.
enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
    Plain(plain::Conn),
}

impl Sender {
    fn is_h2(&self) -> bool {
        matches!(self, Sender::H2(_))
    }

    fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
            Sender::Plain(c) => c.is_closed(),
        }
    }

    /// Sends `request`; on a connection that turned out to be closed before anything was
    /// written, hands the request back so it can go out on another.
    async fn send(
        &mut self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, Option<http::Request<Full<Bytes>>>> {
        let sent = match self {
            Sender::H1(s) => s.try_send_request(request).await,
            Sender::H2(s) => s.try_send_request(request).await,
            Sender::Plain(_) => return Err(None), // never taken for an https origin
        };
        sent.map_err(|mut e| e.take_message())
    }
}

struct Idle {
    sender: Sender,
    since: Instant,
}

/// The upstream client: a pool of keep-alive connections per origin, [`plain`] ones for `http`
/// and hyper's for `https`. One per server worker, so a request only meets connections of its
/// own thread. reqwest (whose engine hyper is) costs a quarter of a fetch-post request in
/// layers that do nothing here (redirect policy, retries, its own URL type); it still talks to
/// the Genesys Platform API, off the request path.
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
        install_crypto_provider();
        let mut http = HttpConnector::new();
        // The connector also serves https URLs: the TLS layer above it takes them.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(Arc::new(rustls::crypto::ring::default_provider()))
            .unwrap_or_else(|e| panic!("the TLS client cannot be set up on this system: {e}"))
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let inner = Arc::new(Pool {
            connector,
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
        let exchange = async {
            if request.origin.scheme == Scheme::HTTP {
                let answer = self.inner.exchange_plain(&request).await?;
                return Ok((answer.status, answer.headers, answer.body));
            }
            let (origin, request) = to_http(request)?;
            let (response, sender) = self.inner.exchange(&origin, request).await?;
            let (parts, body) = response.into_parts();
            let body = read_capped(&parts.headers, body, self.inner.max_body).await?;
            // Only a connection whose answer was read to the end can carry the next request.
            self.inner.give_back(&origin, sender);
            Ok((parts.status, parts.headers, body))
        };
        let (status, headers, body) = tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(FetchError::Timeout(timeout)))?;
        Ok(UpstreamResponse {
            status,
            headers,
            body,
            elapsed: started.elapsed(),
        })
    }
}

impl Pool {
    /// An `http` upstream's exchange, on a pooled [`plain`] connection if one is alive.
    async fn exchange_plain(&self, request: &UpstreamRequest) -> Result<plain::Answer, FetchError> {
        let origin = &*request.origin;
        let wire = plain::Request {
            method: &request.method,
            target: &request.target,
            host: &origin.host,
            headers: &request.headers,
            body: request.body.as_deref().unwrap_or_default(),
            keep_headers: request.keep_headers,
        };
        let (mut conn, reused) = match self.checkout_plain(origin) {
            Some(conn) => (conn, true),
            None => (connect_plain(origin).await?, false),
        };
        let answer = match conn.exchange(&wire, self.max_body).await {
            // The upstream closed the idle connection as the request went out. A request that
            // is safe to repeat goes once more, on a new connection; any other might have been
            // acted on, so it fails.
            Err(plain::WireError::NoAnswer) if reused && request.method.is_idempotent() => {
                conn = connect_plain(origin).await?;
                conn.exchange(&wire, self.max_body).await
            }
            answered => answered,
        }
        .map_err(|e| wire_error(e, self.max_body))?;
        if answer.reusable {
            self.give_back(origin, Sender::Plain(conn));
        }
        Ok(answer)
    }

    fn checkout_plain(&self, origin: &Origin) -> Option<plain::Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(&*origin.key)?;
        while let Some(entry) = list.pop() {
            match entry.sender {
                Sender::Plain(conn)
                    if !conn.is_closed() && entry.since.elapsed() <= IDLE_TIMEOUT =>
                {
                    return Some(conn);
                }
                _ => {}
            }
        }
        None
    }

    /// Sends on a pooled connection if one is alive, else on a new one; a request that a
    /// pooled connection could not even start (the upstream had closed it) goes out once more
    /// on a new connection, as hyper-util's client does.
    async fn exchange(
        &self,
        origin: &Origin,
        request: http::Request<Full<Bytes>>,
    ) -> Result<(Response<Incoming>, Sender), FetchError> {
        let (mut sender, reused) = match self.checkout(origin).await {
            Some(sender) => (sender, true),
            None => (self.connect(origin).await?, false),
        };
        let request = in_form_for(sender.is_h2(), origin, request);
        match sender.send(request).await {
            Ok(response) => Ok((response, sender)),
            Err(Some(request)) if reused => {
                let mut sender = self.connect(origin).await?;
                let request = in_form_for(sender.is_h2(), origin, request);
                let response = sender.send(request).await.map_err(|_| failed())?;
                Ok((response, sender))
            }
            Err(_) => Err(failed()),
        }
    }

    /// A live idle connection to `origin`, waiting for an HTTP/1.1 one to finish its last
    /// exchange if need be.
    async fn checkout(&self, origin: &Origin) -> Option<Sender> {
        loop {
            let taken = {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                let list = idle.get_mut(&*origin.key)?;
                let mut entry = list.pop()?;
                if entry.sender.is_closed() || entry.since.elapsed() > IDLE_TIMEOUT {
                    continue;
                }
                match entry.sender {
                    Sender::H2(ref shared) => {
                        let clone = shared.clone();
                        entry.since = Instant::now();
                        list.push(entry);
                        return Some(Sender::H2(clone));
                    }
                    Sender::H1(sender) => sender,
                    Sender::Plain(_) => continue, // an http origin's; not this path's
                }
            };
            let mut sender = taken;
            if sender.ready().await.is_ok() {
                return Some(Sender::H1(sender));
            }
        }
    }

    async fn connect(&self, origin: &Origin) -> Result<Sender, FetchError> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(|_| FetchError::Connect)?;
        let stream = connector
            .call(origin.root.clone())
            .await
            .map_err(|_| FetchError::Connect)?;
        if stream.connected().is_negotiated_h2() {
            let (sender, connection) = http2::handshake(TokioExecutor::new(), stream)
                .await
                .map_err(|_| FetchError::Connect)?;
            tokio::spawn(connection);
            let shared = Sender::H2(sender.clone());
            self.give_back(origin, shared);
            Ok(Sender::H2(sender))
        } else {
            let (sender, connection) = http1::handshake(stream)
                .await
                .map_err(|_| FetchError::Connect)?;
            tokio::spawn(connection);
            Ok(Sender::H1(sender))
        }
    }

    fn give_back(&self, origin: &Origin, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = match idle.get_mut(&*origin.key) {
            Some(list) => list,
            None => idle.entry(origin.key.clone()).or_default(),
        };
        match sender {
            // The pool already holds this connection's sending half.
            Sender::H2(_) if list.iter().any(|e| matches!(e.sender, Sender::H2(_))) => {}
            _ if list.len() >= MAX_IDLE_PER_ORIGIN => {}
            sender => list.push(Idle {
                sender,
                since: Instant::now(),
            }),
        }
    }
}

/// Closes connections idle for longer than [`IDLE_TIMEOUT`], until the pool is dropped.
async fn close_idle(pool: Weak<Pool>) {
    let mut tick = tokio::time::interval(IDLE_TIMEOUT / 2);
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let mut idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
        for list in idle.values_mut() {
            list.retain(|e| !e.sender.is_closed() && e.since.elapsed() <= IDLE_TIMEOUT);
        }
        idle.retain(|_, list| !list.is_empty());
    }
}

async fn connect_plain(origin: &Origin) -> Result<plain::Conn, FetchError> {
    let host = origin.authority.host();
    let port = origin.authority.port_u16().unwrap_or(80);
    match tokio::time::timeout(CONNECT_TIMEOUT, plain::Conn::connect(host, port)).await {
        Ok(Ok(conn)) => Ok(conn),
        _ => Err(FetchError::Connect),
    }
}

fn wire_error(error: plain::WireError, max_body: usize) -> FetchError {
    match error {
        plain::WireError::NoAnswer => failed(),
        plain::WireError::TooLarge => FetchError::TooLarge(max_body),
        plain::WireError::BrokeOff => FetchError::Failed("the answer broke off"),
        plain::WireError::Malformed(what) => FetchError::Failed(what),
    }
}

fn failed() -> FetchError {
    FetchError::Failed("the request could not be completed")
}

/// HTTP/1.1 wants the path alone on the request line (as [`to_http`] makes it) and the host in
/// `Host`; HTTP/2 carries scheme and authority in the URI.
fn in_form_for(
    http2: bool,
    origin: &Origin,
    mut request: http::Request<Full<Bytes>>,
) -> http::Request<Full<Bytes>> {
    let (scheme, authority) = if http2 {
        (Some(origin.scheme.clone()), Some(origin.authority.clone()))
    } else {
        request
            .headers_mut()
            .entry(HOST)
            .or_insert_with(|| origin.host.clone());
        if request.uri().scheme().is_none() {
            return request;
        }
        (None, None)
    };
    let mut parts = std::mem::take(request.uri_mut()).into_parts();
    (parts.scheme, parts.authority) = (scheme, authority);
    // Both forms are valid by construction: the path came from a URI, the origin from a URL.
    *request.uri_mut() = Uri::from_parts(parts).unwrap_or_else(|_| origin.root.clone());
    request
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
        if so_far + chunk.len() > max_body {
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

/// The rendered request as hyper takes it, its URI still to be put in the connection's form,
/// and where it goes.
fn to_http(
    request: UpstreamRequest,
) -> Result<(Arc<Origin>, http::Request<Full<Bytes>>), FetchError> {
    let uri = Uri::try_from(request.target)
        .map_err(|_| FetchError::Failed("the upstream URL is not valid"))?;
    let body = request.body.map(Bytes::from).unwrap_or_default();
    let mut out = http::Request::new(Full::new(body));
    *out.method_mut() = request.method;
    *out.uri_mut() = uri;
    *out.headers_mut() = request.headers;
    out.headers_mut()
        .entry(USER_AGENT_NAME)
        .or_insert(USER_AGENT);
    Ok((request.origin, out))
}

/// rustls is built without a default crypto provider so the whole binary uses ring.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An error only means another provider was installed first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> Origin {
        Origin::of(&Url::parse(url).unwrap()).unwrap()
    }

    #[test]
    fn an_origin_keeps_only_scheme_host_and_a_port_that_is_not_the_default() {
        let o = origin("http://api.example.com:80/ignored?q=1");
        assert_eq!(&*o.key, "http://api.example.com");
        assert_eq!(o.host, "api.example.com");
        assert_eq!(o.root, "http://api.example.com/");

        let o = origin("https://[::1]:8443/x");
        assert_eq!(&*o.key, "https://[::1]:8443");
        assert_eq!(o.host, "[::1]:8443");
        assert_eq!(o.scheme, Scheme::HTTPS);
        assert_eq!(o.authority, "[::1]:8443");
    }

    #[test]
    fn http_1_gets_a_host_header_and_http_2_an_absolute_uri() {
        let o = origin("https://api.example.com:8443");
        let request = || to_http_request("/posts/7?x=1");
        let h1 = in_form_for(false, &o, request());
        assert_eq!(h1.uri(), "/posts/7?x=1");
        assert_eq!(h1.headers()[HOST], "api.example.com:8443");
        let h2 = in_form_for(true, &o, request());
        assert_eq!(h2.uri(), "https://api.example.com:8443/posts/7?x=1");
        assert!(!h2.headers().contains_key(HOST));
        // A request moved from HTTP/2 to a new HTTP/1.1 connection goes back to origin form.
        let back = in_form_for(false, &o, h2);
        assert_eq!(back.uri(), "/posts/7?x=1");
    }

    fn to_http_request(path: &str) -> http::Request<Full<Bytes>> {
        let mut r = http::Request::new(Full::new(Bytes::new()));
        *r.uri_mut() = Uri::try_from(path).unwrap();
        r
    }
}
