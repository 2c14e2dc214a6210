//! Step 3 of the pipeline, *fetch*: the rendered request sent upstream on one shared client.
//!
//! The client never follows redirects and ignores proxy variables from the environment: either
//! would let a request leave the host the bridge names. Every call is bounded by the bridge's
//! timeout (connecting, sending and reading the whole body) and by a cap on the body size.

use std::sync::Once;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};

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

/// The shared upstream client.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: reqwest::Client,
    max_body: usize,
}

impl Upstream {
    pub fn new(max_body: usize) -> Self {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .user_agent(concat!("bridgeway/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|e| panic!("the HTTP client cannot be built on this system: {e}"));
        Upstream { client, max_body }
    }

    pub async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, FetchError> {
        let timeout = request.timeout;
        let started = Instant::now();
        let exchange = async {
            let mut builder = self
                .client
                .request(request.method, request.url)
                .headers(request.headers);
            if let Some(body) = request.body {
                builder = builder.body(body);
            }
            let mut response = builder.send().await.map_err(classify)?;
            let status = response.status();
            // Taken, not cloned: reading the body does not need them.
            let headers = std::mem::take(response.headers_mut());
            let body = self.read_capped(response).await?;
            Ok(UpstreamResponse {
                status,
                headers,
                body,
                elapsed: started.elapsed(),
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(FetchError::Timeout(timeout)))
    }

    async fn read_capped(&self, mut response: reqwest::Response) -> Result<Bytes, FetchError> {
        if response
            .content_length()
            .is_some_and(|n| n > self.max_body as u64)
        {
            return Err(FetchError::TooLarge(self.max_body));
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(FetchError::TooLarge(self.max_body));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

fn classify(e: reqwest::Error) -> FetchError {
    if e.is_connect() {
        FetchError::Connect
    } else if e.is_body() || e.is_decode() {
        FetchError::Failed("the answer broke off")
    } else {
        FetchError::Failed("the request could not be completed")
    }
}

/// reqwest is built without a bundled crypto provider so the whole binary uses ring.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An error only means another provider was installed first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
