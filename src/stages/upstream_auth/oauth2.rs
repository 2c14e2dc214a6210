//! OAuth2 access tokens for upstream calls (SPEC §5.2): fetched by client credentials, cached
//! per distinct settings, shared by every bridge and connection that use those settings, kept
//! across reloads, refreshed before they expire, never fetched twice at once.
//!
//! The request path reads the cached token from an [`ArcSwap`] (no lock, no allocation beyond
//! the header's reference count). Only a missing, stale or refused token takes the fetch lock;
//! whoever holds it fetches, and everyone who waited on it finds the new token when they get it.
//!
//! reqwest makes the token request itself rather than the `oauth2` crate: vendors need grant
//! types other than `client_credentials` (Zoom's `account_credentials`), `expires_in` arrives
//! as a string from some (SPEC §5.2 accepts both), and the `oauth2` crate would pull a second
//! reqwest into the tree. The protocol is one form POST; the cache rules are ours either way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use base64::Engine;
use http::HeaderValue;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::file::{ClientAuth, OAuth2Spec};
use crate::stages::fetch::TlsProfile;

/// After a failed token request, how long until the next one may be made. Requests in between
/// fail at once with the same error, so a broken token endpoint is not hammered.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// Longest a token request may take, whatever the bridge's timeout.
const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest token answer read.
const MAX_TOKEN_ANSWER: usize = 64 * 1024;

/// `bridgeway test` only: every token request goes to this loopback address over plain HTTP.
static TOKEN_STAND_IN: std::sync::OnceLock<std::net::SocketAddr> = std::sync::OnceLock::new();

/// Sends every token request of this process, whatever its `token_url`, to `addr` (plain HTTP,
/// same path and query) from now on: the stand-in token endpoint of `bridgeway test`.
pub fn send_token_requests_to(addr: std::net::SocketAddr) {
    let _ = TOKEN_STAND_IN.set(addr);
}

fn stand_in_url(url: &str, addr: std::net::SocketAddr) -> String {
    let rest = url::Url::parse(url).map_or_else(
        |_| "/".to_owned(),
        |u| u[url::Position::BeforePath..].to_owned(),
    );
    format!("http://{addr}{rest}")
}

/// Why no token could be had. Never holds a secret: the endpoint's `error` code is quoted only
/// after it is reduced to the characters RFC 6749 §5.2 allows in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token endpoint refused the request: `{0}`")]
    Refused(String),
    #[error("the token endpoint answered {0}")]
    Status(u16),
    #[error("the token endpoint could not be reached")]
    Unreachable,
    #[error(
        "the token endpoint did not answer within {}",
        humantime::format_duration(TOKEN_REQUEST_TIMEOUT)
    )]
    Timeout,
    #[error("the token endpoint's answer is not a JSON object")]
    NotJson,
    #[error("the token endpoint's answer has no `access_token`")]
    NoAccessToken,
    #[error("the token endpoint gave a token of type `{0}`, not `Bearer`")]
    WrongType(String),
    #[error("the access token holds characters not allowed in a header")]
    BadToken,
    #[error("the upstream refused a freshly fetched token (401)")]
    RefusedByUpstream,
}

impl TokenError {
    /// The `result` label of `bridgeway_token_requests_total`.
    fn result(&self) -> TokenResult {
        match self {
            TokenError::Refused(_) | TokenError::Status(_) => TokenResult::Refused,
            TokenError::Unreachable | TokenError::Timeout => TokenResult::Unreachable,
            _ => TokenResult::Invalid,
        }
    }
}

/// How token requests ended, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenResult {
    Ok,
    Refused,
    Unreachable,
    Invalid,
}

impl TokenResult {
    pub const ALL: [TokenResult; 4] = [
        TokenResult::Ok,
        TokenResult::Refused,
        TokenResult::Unreachable,
        TokenResult::Invalid,
    ];

    pub fn label(self) -> &'static str {
        match self {
            TokenResult::Ok => "ok",
            TokenResult::Refused => "refused",
            TokenResult::Unreachable => "unreachable",
            TokenResult::Invalid => "invalid",
        }
    }
}

/// An oauth2 setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("token_url: must be an http:// or https:// URL")]
    TokenUrl,
    #[error("{0}: the value is empty")]
    Empty(&'static str),
    #[error("params.{0}: set `{0}` with its own key, not in params")]
    Reserved(String),
}

/// What the cache state was when a request took its token, for `try` and the request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStep {
    Cached,
    /// Fetched now, taking this long; the token's lifetime if the endpoint gave one.
    Fetched {
        took: Duration,
        lifetime: Option<Duration>,
    },
}

/// The token state as `/-/bridges` shows it: never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    pub state: &'static str,
    pub expires_in: Option<u64>,
    pub error: Option<String>,
}

/// A token as a request gets it.
#[derive(Debug, Clone)]
pub struct Token {
    pub header: HeaderValue,
    pub step: TokenStep,
    /// Which fetch it came from: a 401 names it, so that a token another request already
    /// replaced is not replaced again.
    pub generation: u64,
}

enum State {
    None,
    Valid {
        header: HeaderValue,
        generation: u64,
        /// Refresh from here on; `None`: until an upstream answers 401.
        use_until: Option<Instant>,
        expires_at: Option<Instant>,
    },
    Failed {
        error: TokenError,
        retry_at: Instant,
    },
}

/// One set of oauth2 settings and its cached token.
pub struct TokenSource {
    request: TokenRequest,
    state: ArcSwap<State>,
    fetching: tokio::sync::Mutex<()>,
    generations: AtomicU64,
    counts: [AtomicU64; 4],
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSource(***)")
    }
}

/// The token request, built once: URL, form body and client authentication.
struct TokenRequest {
    url: String,
    form: String,
    basic: Option<HeaderValue>,
    http: reqwest::Client,
}

impl TokenSource {
    /// The source for `spec` (with `tls` for the token endpoint too): the one already in use
    /// for equal settings, so a token is shared and survives reloads, or a new one. Also every
    /// text to mask (the form body and Basic value as sent).
    pub fn for_settings(
        spec: &OAuth2Spec,
        tls: Option<&Arc<TlsProfile>>,
    ) -> Result<(Arc<TokenSource>, Vec<String>), SettingsError> {
        let request = TokenRequest::build(spec, tls)?;
        let mut secrets = vec![request.form.clone()];
        if let Some(b) = &request.basic
            && let Ok(text) = b.to_str()
        {
            secrets.push(text.trim_start_matches("Basic ").to_owned());
        }
        let key = request.key(tls);
        static SOURCES: Mutex<Option<HashMap<[u8; 32], Weak<TokenSource>>>> = Mutex::new(None);
        let mut sources = SOURCES.lock().unwrap_or_else(|e| e.into_inner());
        let sources = sources.get_or_insert_with(HashMap::new);
        sources.retain(|_, weak| weak.strong_count() > 0);
        if let Some(source) = sources.get(&key).and_then(Weak::upgrade) {
            return Ok((source, secrets));
        }
        let source = Arc::new(TokenSource {
            request,
            state: ArcSwap::from_pointee(State::None),
            fetching: tokio::sync::Mutex::new(()),
            generations: AtomicU64::new(0),
            counts: Default::default(),
        });
        sources.insert(key, Arc::downgrade(&source));
        Ok((source, secrets))
    }

    /// The `Authorization` value to send: the cached token while it is fresh, otherwise one
    /// fetched now (or the last failure, while the endpoint is left alone after one).
    pub async fn bearer(self: &Arc<Self>) -> Result<Token, TokenError> {
        match self.standing(Instant::now(), None) {
            Some(ready) => ready,
            None => self.fetch_in_turn(None).await,
        }
    }

    /// After the upstream answered 401 to the token of `refused` (its generation): a new
    /// token, unless another request has replaced it already, in which case that one.
    pub async fn replace(self: &Arc<Self>, refused: u64) -> Result<Token, TokenError> {
        self.fetch_in_turn(Some(refused)).await
    }

    /// Waits for the fetch lock, then fetches unless what stands by then will do. The fetch
    /// runs in a task of its own: a request that stops waiting (its deadline passed, its caller
    /// left) does not cancel it, so its outcome is recorded for everyone else — a slow token
    /// endpoint is not asked again by every request that gives up on it.
    async fn fetch_in_turn(self: &Arc<Self>, refused: Option<u64>) -> Result<Token, TokenError> {
        let source = Arc::clone(self);
        let turn = tokio::spawn(async move {
            let _turn = source.fetching.lock().await;
            match source.standing(Instant::now(), refused) {
                Some(ready) => ready,
                None => source.fetch().await,
            }
        });
        turn.await.unwrap_or(Err(TokenError::Unreachable))
    }

    /// The answer that stands, if one does: a fresh token (not the refused one), or a failure
    /// too recent to ask again.
    fn standing(&self, now: Instant, refused: Option<u64>) -> Option<Result<Token, TokenError>> {
        match &**self.state.load() {
            State::Valid {
                header,
                generation,
                use_until,
                ..
            } if use_until.is_none_or(|t| now < t) && Some(*generation) != refused => {
                Some(Ok(Token {
                    header: header.clone(),
                    step: TokenStep::Cached,
                    generation: *generation,
                }))
            }
            State::Failed { error, retry_at } if now < *retry_at => Some(Err(error.clone())),
            _ => None,
        }
    }

    /// Fetches a token and records the outcome; the caller holds the fetch lock.
    async fn fetch(&self) -> Result<Token, TokenError> {
        let started = Instant::now();
        let outcome = self.request.send().await;
        let result = outcome
            .as_ref()
            .map_or_else(TokenError::result, |_| TokenResult::Ok);
        self.counts[result as usize].fetch_add(1, Ordering::Relaxed);
        match outcome {
            Ok(token) => {
                let now = Instant::now();
                let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
                self.state.store(Arc::new(State::Valid {
                    header: token.header.clone(),
                    generation,
                    use_until: token.lifetime.map(|l| now + usable(l)),
                    expires_at: token.lifetime.map(|l| now + l),
                }));
                Ok(Token {
                    header: token.header,
                    step: TokenStep::Fetched {
                        took: started.elapsed(),
                        lifetime: token.lifetime,
                    },
                    generation,
                })
            }
            Err(error) => {
                self.state.store(Arc::new(State::Failed {
                    error: error.clone(),
                    retry_at: Instant::now() + RETRY_AFTER_FAILURE,
                }));
                Err(error)
            }
        }
    }

    /// Forgets a freshly fetched token the upstream refused: the next request starts over.
    pub fn refused_by_upstream(&self, refused: u64) {
        if matches!(&**self.state.load(), State::Valid { generation, .. } if *generation == refused)
        {
            self.state.store(Arc::new(State::None));
        }
    }

    pub fn view(&self) -> TokenView {
        let now = Instant::now();
        match &**self.state.load() {
            State::None => TokenView {
                state: "none",
                expires_in: None,
                error: None,
            },
            State::Valid { expires_at, .. } => TokenView {
                state: "valid",
                expires_in: expires_at.map(|t| t.saturating_duration_since(now).as_secs()),
                error: None,
            },
            State::Failed { error, .. } => TokenView {
                state: "failed",
                expires_in: None,
                error: Some(error.to_string()),
            },
        }
    }

    /// Token requests made so far, by result.
    pub fn counts(&self) -> impl Iterator<Item = (TokenResult, u64)> + '_ {
        TokenResult::ALL
            .into_iter()
            .map(|r| (r, self.counts[r as usize].load(Ordering::Relaxed)))
    }
}

impl crate::metrics::TokenCounter for TokenSource {
    fn counts(&self) -> Vec<(&'static str, u64)> {
        TokenSource::counts(self)
            .map(|(r, n)| (r.label(), n))
            .collect()
    }
}

/// How much of a token's lifetime is used before it is refreshed: all but 30 s, or for
/// lifetimes under 60 s, half.
fn usable(lifetime: Duration) -> Duration {
    if lifetime >= Duration::from_secs(60) {
        lifetime - Duration::from_secs(30)
    } else {
        lifetime / 2
    }
}

/// What the token endpoint gave.
struct Granted {
    header: HeaderValue,
    lifetime: Option<Duration>,
}

impl TokenRequest {
    fn build(spec: &OAuth2Spec, tls: Option<&Arc<TlsProfile>>) -> Result<Self, SettingsError> {
        let url = spec.token_url.as_str();
        let parsed = url::Url::parse(url).map_err(|_| SettingsError::TokenUrl)?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(SettingsError::TokenUrl);
        }
        for (what, value) in [
            ("client_id", &spec.client_id),
            ("client_secret", &spec.client_secret),
        ] {
            if value.as_str().is_empty() {
                return Err(SettingsError::Empty(what));
            }
        }
        let grant_type = spec
            .grant_type
            .as_ref()
            .map_or("client_credentials", |g| g.as_str());
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", grant_type);
        if let Some(scope) = &spec.scope {
            form.append_pair("scope", scope.as_str());
        }
        for (key, value) in &spec.params.0 {
            if matches!(
                key.as_str(),
                "grant_type" | "scope" | "client_id" | "client_secret"
            ) {
                return Err(SettingsError::Reserved(key.clone()));
            }
            form.append_pair(key, value.as_str());
        }
        let basic = match spec.client_auth {
            ClientAuth::Body => {
                form.append_pair("client_id", spec.client_id.as_str());
                form.append_pair("client_secret", spec.client_secret.as_str());
                None
            }
            ClientAuth::Basic => Some(basic_header(
                spec.client_id.as_str(),
                spec.client_secret.as_str(),
            )),
        };
        Ok(TokenRequest {
            url: url.to_owned(),
            form: form.finish(),
            basic,
            http: http_client(tls),
        })
    }

    /// What makes two settings the same (SPEC §5.2's list), and the TLS they reach it with.
    fn key(&self, tls: Option<&Arc<TlsProfile>>) -> [u8; 32] {
        let mut digest = Sha256::new();
        for part in [
            self.url.as_bytes(),
            self.form.as_bytes(),
            self.basic
                .as_ref()
                .map_or(b"-".as_slice(), |b| b.as_bytes()),
            tls.map_or("-", |t| t.id()).as_bytes(),
        ] {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part);
        }
        digest.finalize().into()
    }

    async fn send(&self) -> Result<Granted, TokenError> {
        let url = match TOKEN_STAND_IN.get() {
            Some(addr) => stand_in_url(&self.url, *addr),
            None => self.url.clone(),
        };
        let mut request = self
            .http
            .post(url)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(self.form.clone());
        if let Some(basic) = &self.basic {
            request = request.header(http::header::AUTHORIZATION, basic.clone());
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                TokenError::Timeout
            } else {
                TokenError::Unreachable
            }
        })?;
        let status = response.status();
        let body = read_capped(response).await?;
        let json: Option<serde_json::Map<String, Value>> = serde_json::from_slice(&body).ok();
        if !status.is_success() {
            return Err(match json.as_ref().and_then(|j| j.get("error")) {
                Some(Value::String(code)) => TokenError::Refused(error_code(code)),
                _ => TokenError::Status(status.as_u16()),
            });
        }
        let json = json.ok_or(TokenError::NotJson)?;
        if let Some(Value::String(code)) = json.get("error") {
            return Err(TokenError::Refused(error_code(code)));
        }
        let token = match json.get("access_token") {
            Some(Value::String(t)) if !t.is_empty() => t,
            _ => return Err(TokenError::NoAccessToken),
        };
        match json.get("token_type") {
            None => {}
            Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {}
            Some(Value::String(t)) => return Err(TokenError::WrongType(error_code(t))),
            Some(_) => return Err(TokenError::WrongType("?".to_owned())),
        }
        let mut header =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| TokenError::BadToken)?;
        header.set_sensitive(true);
        Ok(Granted {
            header,
            lifetime: json.get("expires_in").and_then(lifetime),
        })
    }
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, TokenError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        if e.is_timeout() {
            TokenError::Timeout
        } else {
            TokenError::Unreachable
        }
    })? {
        if body.len() + chunk.len() > MAX_TOKEN_ANSWER {
            return Err(TokenError::NotJson);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `expires_in`: seconds, as a number or a string holding one; anything else is no lifetime.
fn lifetime(value: &Value) -> Option<Duration> {
    let seconds = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (seconds.is_finite() && seconds > 0.0).then(|| Duration::from_secs_f64(seconds.min(1e9)))
}

/// The endpoint's `error` code as it may be quoted: RFC 6749 §5.2 allows only printable
/// ASCII without `"` and `\`, and a code is short.
fn error_code(code: &str) -> String {
    code.chars()
        .filter(|c| matches!(c, ' '..='~') && !matches!(c, '"' | '\\' | '`'))
        .take(64)
        .collect()
}

/// RFC 6749 §2.3.1: id and secret are form-encoded before they are joined for Basic.
fn basic_header(id: &str, secret: &str) -> HeaderValue {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(id), encode(secret));
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

fn http_client(tls: Option<&Arc<TlsProfile>>) -> reqwest::Client {
    crate::stages::fetch::install_crypto_provider();
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(TOKEN_REQUEST_TIMEOUT);
    let builder = match tls {
        Some(tls) => builder.tls_backend_preconfigured(tls.http1_config()),
        None => builder,
    };
    // Building fails only when the TLS backend cannot start, which the upstream client would
    // have hit first at start-up; a default client is the same then.
    builder.build().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_before_they_expire() {
        assert_eq!(usable(Duration::from_secs(3600)), Duration::from_secs(3570));
        assert_eq!(usable(Duration::from_secs(60)), Duration::from_secs(30));
        assert_eq!(usable(Duration::from_secs(10)), Duration::from_secs(5));
    }

    #[test]
    fn expires_in_may_be_a_number_or_a_string() {
        assert_eq!(
            lifetime(&serde_json::json!(3600)),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            lifetime(&serde_json::json!("3599")),
            Some(Duration::from_secs(3599))
        );
        assert_eq!(lifetime(&serde_json::json!("soon")), None);
        assert_eq!(lifetime(&serde_json::json!(-5)), None);
        assert_eq!(lifetime(&serde_json::json!(null)), None);
    }

    #[test]
    fn client_credentials_are_form_encoded_before_basic() {
        // RFC 6749 §2.3.1: "a b" → "a+b", ":" → "%3A".
        let header = basic_header("a b", "x:y");
        let encoded = header.to_str().unwrap().trim_start_matches("Basic ");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(decoded, b"a+b:x%3Ay");
    }

    #[test]
    fn quoted_error_codes_are_plain_and_short() {
        assert_eq!(error_code("invalid_client"), "invalid_client");
        assert_eq!(error_code("a\"b\\c\nd`"), "abcd");
        assert_eq!(error_code(&"x".repeat(200)).len(), 64);
    }
}
