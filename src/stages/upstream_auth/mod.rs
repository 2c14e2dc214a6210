//! Outbound credentials: what the gateway attaches to every upstream request of a bridge
//! (`upstream.auth`, or its connection's `auth`), as opposed to [`super::auth`], which checks
//! the caller's.
//!
//! Everything here is computed at load: a constant `Authorization` value (Basic's base64
//! included) is built once and only cloned per request. An OAuth2 token is not a constant: it
//! comes from a [`TokenSource`] shared by all who use the same settings ([`oauth2`]).

use std::sync::Arc;

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue, header::AUTHORIZATION};

use crate::file::{BasicSpec, UpstreamApiKeySpec, UpstreamAuthSpec};
use crate::stages::fetch::TlsProfile;

pub mod oauth2;

pub use oauth2::{Token, TokenError, TokenSource, TokenStep, TokenView};

/// An `auth` setting that cannot be used. Messages are relative to the `auth` key; the caller
/// says where that is (`upstream.auth` in a bridge, `auth` in a connection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamAuthError {
    #[error("give exactly one of `oauth2`, `basic`, `bearer` or `api_key`")]
    NotExactlyOne,
    #[error("api_key: give exactly one of `header` or `query`")]
    ApiKeyPlace,
    #[error("api_key.header: `{0}` is not a valid header name")]
    BadHeaderName(String),
    // The value itself is never quoted: it is a secret.
    #[error("{0}: the value holds characters not allowed in a header")]
    BadHeaderValue(&'static str),
    #[error("{0}: the value is empty")]
    Empty(&'static str),
    #[error("api_key.query: the parameter name is empty")]
    EmptyQueryName,
    #[error("basic.username: a user name cannot hold `:` (RFC 7617 §2)")]
    ColonInUsername,
    #[error("oauth2.{0}")]
    OAuth2(#[from] oauth2::SettingsError),
}

/// The compiled `upstream.auth` of one bridge.
#[derive(Clone)]
pub enum UpstreamAuth {
    /// `Authorization: Basic …`, RFC 7617 with UTF-8.
    Basic(HeaderValue),
    /// `Authorization: Bearer …`.
    Bearer(HeaderValue),
    /// An API key in a header of its own.
    ApiKeyHeader {
        name: HeaderName,
        value: HeaderValue,
    },
    /// An API key as a query parameter: `name=value`, both already query-encoded.
    ApiKeyQuery(String),
    /// `Authorization: Bearer` with a token from the shared cache.
    OAuth2(Arc<TokenSource>),
}

impl std::fmt::Debug for UpstreamAuth {
    // Never the values: a `{:?}` of a bridge must not print a credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamAuth::ApiKeyHeader { name, .. } => {
                write!(f, "ApiKeyHeader({name}: ***)")
            }
            other => write!(f, "{}(***)", other.kind()),
        }
    }
}

impl UpstreamAuth {
    /// Compiles `spec`, returning also every text that must be masked: the values as written
    /// and as sent (base64, query-encoded), since either could reach a log.
    /// `tls` is the connection's (or bridge's) own TLS, used for the token endpoint too.
    pub fn compile(
        spec: &UpstreamAuthSpec,
        tls: Option<&Arc<TlsProfile>>,
    ) -> Result<(Self, Vec<String>), UpstreamAuthError> {
        let mut secrets: Vec<String> = spec.values().into_iter().map(str::to_owned).collect();
        let auth = match (&spec.oauth2, &spec.basic, &spec.bearer, &spec.api_key) {
            (Some(oauth2), None, None, None) => {
                let (source, sent) = TokenSource::for_settings(oauth2, tls)?;
                secrets.extend(sent);
                UpstreamAuth::OAuth2(source)
            }
            (None, Some(basic), None, None) => Self::basic(basic, &mut secrets)?,
            (None, None, Some(token), None) => {
                if token.as_str().is_empty() {
                    return Err(UpstreamAuthError::Empty("bearer"));
                }
                UpstreamAuth::Bearer(sensitive(&format!("Bearer {}", token.as_str()), "bearer")?)
            }
            (None, None, None, Some(key)) => Self::api_key(key, &mut secrets)?,
            _ => return Err(UpstreamAuthError::NotExactlyOne),
        };
        Ok((auth, secrets))
    }

    fn basic(spec: &BasicSpec, secrets: &mut Vec<String>) -> Result<Self, UpstreamAuthError> {
        // RFC 7617 §2: user-id and password joined by one colon; §2.1: UTF-8 when declared,
        // and every API that takes Basic today reads it so. The user-id cannot hold a colon
        // (the server would split there); the password may.
        if spec.username.as_str().contains(':') {
            return Err(UpstreamAuthError::ColonInUsername);
        }
        let pair = format!("{}:{}", spec.username.as_str(), spec.password.as_str());
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair.as_bytes());
        let value = sensitive(&format!("Basic {encoded}"), "basic")?;
        secrets.push(encoded);
        Ok(UpstreamAuth::Basic(value))
    }

    fn api_key(
        spec: &UpstreamApiKeySpec,
        secrets: &mut Vec<String>,
    ) -> Result<Self, UpstreamAuthError> {
        if spec.value.as_str().is_empty() {
            return Err(UpstreamAuthError::Empty("api_key.value"));
        }
        match (&spec.header, &spec.query) {
            (Some(header), None) => {
                let name = HeaderName::from_bytes(header.as_str().as_bytes())
                    .map_err(|_| UpstreamAuthError::BadHeaderName(header.0.clone()))?;
                let value = sensitive(spec.value.as_str(), "api_key.value")?;
                Ok(UpstreamAuth::ApiKeyHeader { name, value })
            }
            (None, Some(query)) => {
                if query.as_str().is_empty() {
                    return Err(UpstreamAuthError::EmptyQueryName);
                }
                let value = crate::template::percent_encode(spec.value.as_str());
                let pair = format!(
                    "{}={value}",
                    crate::template::percent_encode(query.as_str())
                );
                secrets.push(value);
                Ok(UpstreamAuth::ApiKeyQuery(pair))
            }
            _ => Err(UpstreamAuthError::ApiKeyPlace),
        }
    }

    /// The kind, as `/-/bridges` and error messages name it.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamAuth::Basic(_) => "basic",
            UpstreamAuth::Bearer(_) => "bearer",
            UpstreamAuth::ApiKeyHeader { .. } | UpstreamAuth::ApiKeyQuery(_) => "api_key",
            UpstreamAuth::OAuth2(_) => "oauth2",
        }
    }

    /// The header this sets, if any: a bridge may not set it too.
    pub fn header(&self) -> Option<&HeaderName> {
        match self {
            UpstreamAuth::Basic(_) | UpstreamAuth::Bearer(_) | UpstreamAuth::OAuth2(_) => {
                Some(&AUTHORIZATION)
            }
            UpstreamAuth::ApiKeyHeader { name, .. } => Some(name),
            UpstreamAuth::ApiKeyQuery(_) => None,
        }
    }

    /// The encoded `name=value` query pair, if the key goes in the query.
    pub fn query_pair(&self) -> Option<&str> {
        match self {
            UpstreamAuth::ApiKeyQuery(pair) => Some(pair),
            _ => None,
        }
    }

    /// The token cache, when the credential is an OAuth2 token.
    pub fn tokens(&self) -> Option<&Arc<TokenSource>> {
        match self {
            UpstreamAuth::OAuth2(source) => Some(source),
            _ => None,
        }
    }

    /// Adds the credential header to `headers` (a clone of the value built at load). An OAuth2
    /// token is added later, by the pipeline, since getting it may wait.
    pub fn apply_headers(&self, headers: &mut HeaderMap) {
        match self {
            UpstreamAuth::Basic(v) | UpstreamAuth::Bearer(v) => {
                headers.insert(AUTHORIZATION, v.clone());
            }
            UpstreamAuth::ApiKeyHeader { name, value } => {
                headers.insert(name.clone(), value.clone());
            }
            UpstreamAuth::ApiKeyQuery(_) | UpstreamAuth::OAuth2(_) => {}
        }
    }
}

/// A header value marked sensitive, so HTTP/2 never indexes it (HPACK) and debug output
/// of the header map hides it.
fn sensitive(text: &str, what: &'static str) -> Result<HeaderValue, UpstreamAuthError> {
    if text.contains(['\r', '\n', '\0']) {
        return Err(UpstreamAuthError::BadHeaderValue(what));
    }
    let mut value =
        HeaderValue::from_str(text).map_err(|_| UpstreamAuthError::BadHeaderValue(what))?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::UpstreamSpec;

    fn compile(yaml: &str) -> Result<(UpstreamAuth, Vec<String>), UpstreamAuthError> {
        let spec: UpstreamSpec =
            serde_yaml::from_str(&format!("url: http://h/\nauth: {yaml}")).expect("valid shape");
        UpstreamAuth::compile(spec.auth.as_ref().unwrap(), None)
    }

    #[test]
    fn basic_is_rfc7617_utf8_and_built_once() {
        let (auth, secrets) =
            compile("{basic: {username: 'Aladdin', password: 'open sesame'}}").unwrap();
        let mut headers = HeaderMap::new();
        auth.apply_headers(&mut headers);
        // The example of RFC 7617 §2.
        assert_eq!(headers[AUTHORIZATION], "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(headers[AUTHORIZATION].is_sensitive());
        assert!(secrets.contains(&"QWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_owned()));
        assert!(!format!("{auth:?}").contains("QWxh"));
    }

    #[test]
    fn exactly_one_kind_and_one_place() {
        assert_eq!(
            compile("{bearer: t, api_key: {header: X-K, value: v}}").unwrap_err(),
            UpstreamAuthError::NotExactlyOne
        );
        assert_eq!(compile("{}").unwrap_err(), UpstreamAuthError::NotExactlyOne);
        assert_eq!(
            compile("{basic: {username: 'a:b', password: p}}").unwrap_err(),
            UpstreamAuthError::ColonInUsername
        );
        assert_eq!(
            compile("{api_key: {header: X-K, query: k, value: v}}").unwrap_err(),
            UpstreamAuthError::ApiKeyPlace
        );
        assert_eq!(
            compile("{bearer: \"a\\nb\"}").unwrap_err(),
            UpstreamAuthError::BadHeaderValue("bearer")
        );
    }

    #[test]
    fn query_key_is_encoded_and_both_forms_are_secrets() {
        let (auth, secrets) = compile("{api_key: {query: api key, value: 'a&b=c d'}}").unwrap();
        assert_eq!(auth.query_pair(), Some("api%20key=a%26b%3Dc%20d"));
        assert!(secrets.contains(&"a&b=c d".to_owned()));
        assert!(secrets.contains(&"a%26b%3Dc%20d".to_owned()));
        assert_eq!(auth.header(), None);
    }
}
