//! Step 3 of the pipeline, *fetch*: the rendered request sent upstream on one shared client.
//!
//! The client never follows redirects and ignores proxy variables from the environment: either
//! would let a request leave the host the bridge names. Every call is bounded by the bridge's
//! timeout (connecting, sending and reading the whole body) and by a cap on the body size.

use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, USER_AGENT as USER_AGENT_NAME};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::render::UpstreamRequest;

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

/// The shared upstream client: hyper-util's pooled client, the engine inside reqwest, used
/// directly. reqwest's layers (redirect policy, retry budget, its own URL type) cost a quarter
/// of the instructions of a fetch-post request and bring nothing here: redirects are refused
/// anyway. reqwest still talks to the Genesys Platform API, off the request path.
#[derive(Clone)]
pub struct Upstream {
    client: Client<Connector, Full<Bytes>>,
    max_body: usize,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("max_body", &self.max_body)
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
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(Arc::new(rustls::crypto::ring::default_provider()))
            .unwrap_or_else(|e| panic!("the TLS client cannot be set up on this system: {e}"))
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_timer(TokioTimer::new())
            .build(tls);
        Upstream { client, max_body }
    }

    pub async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, FetchError> {
        let timeout = request.timeout;
        let started = Instant::now();
        let exchange = async {
            let response = self
                .client
                .request(to_http(request)?)
                .await
                .map_err(classify)?;
            let (parts, body) = response.into_parts();
            let body = self.read_capped(&parts.headers, body).await?;
            Ok(UpstreamResponse {
                status: parts.status,
                headers: parts.headers,
                body,
                elapsed: started.elapsed(),
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(FetchError::Timeout(timeout)))
    }

    async fn read_capped(
        &self,
        headers: &HeaderMap,
        mut body: Incoming,
    ) -> Result<Bytes, FetchError> {
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body as u64) {
            return Err(FetchError::TooLarge(self.max_body));
        }
        let mut first: Option<Bytes> = None;
        let mut rest = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| FetchError::Failed("the answer broke off"))?;
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            let so_far = first.as_ref().map_or(0, Bytes::len) + rest.len();
            if so_far + chunk.len() > self.max_body {
                return Err(FetchError::TooLarge(self.max_body));
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
}

/// The rendered request as hyper takes it. The URL was built and checked by the renderer, so a
/// failure here is a bug, reported rather than panicked on.
fn to_http(request: UpstreamRequest) -> Result<http::Request<Full<Bytes>>, FetchError> {
    let uri = Uri::try_from(String::from(request.url))
        .map_err(|_| FetchError::Failed("the upstream URL is not valid"))?;
    let body = request.body.map(Bytes::from).unwrap_or_default();
    let mut out = http::Request::new(Full::new(body));
    *out.method_mut() = request.method;
    *out.uri_mut() = uri;
    *out.headers_mut() = request.headers;
    out.headers_mut()
        .entry(USER_AGENT_NAME)
        .or_insert(USER_AGENT);
    Ok(out)
}

fn classify(e: hyper_util::client::legacy::Error) -> FetchError {
    if e.is_connect() {
        FetchError::Connect
    } else {
        FetchError::Failed("the request could not be completed")
    }
}

/// rustls is built without a default crypto provider so the whole binary uses ring.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An error only means another provider was installed first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
