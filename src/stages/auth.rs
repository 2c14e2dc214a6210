//! Stage *auth*: the inbound credentials of a bridge: an API key header (Genesys *User Defined*) or HTTP Basic
//! (Genesys *Basic Auth*).
//!
//! Both sides are hashed with SHA-256 and the digests compared in constant time, so neither the
//! content nor the length of the expected secret leaks through timing.

use base64::Engine;
use http::{HeaderMap, HeaderName, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::file::{ApiKeySpec, AuthSpec, BasicSpec};

/// Missing or wrong credentials; the message never says which part was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("missing or wrong credentials")]
pub struct Unauthorized;

impl Unauthorized {
    pub fn status(&self) -> StatusCode {
        StatusCode::UNAUTHORIZED
    }

    pub fn code(&self) -> &'static str {
        "unauthorized"
    }
}

#[derive(Clone)]
pub enum InboundAuth {
    ApiKey {
        header: HeaderName,
        digest: [u8; 32],
        /// The Genesys *User Defined* credential field holding the key, for the exported action.
        genesys_field: String,
    },
    /// The user name is not secret: `export` tells the operator which one to configure.
    Basic { username: String, digest: [u8; 32] },
}

impl std::fmt::Debug for InboundAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InboundAuth::ApiKey { header, .. } => write!(f, "ApiKey({header})"),
            InboundAuth::Basic { username, .. } => write!(f, "Basic({username})"),
        }
    }
}

impl InboundAuth {
    /// Compiles the `auth:` block; returns it with the secret values to mask everywhere.
    pub fn compile(spec: &AuthSpec) -> Result<(Self, Vec<String>), String> {
        match spec {
            AuthSpec {
                api_key:
                    Some(ApiKeySpec {
                        header,
                        value,
                        genesys_field,
                    }),
                basic: None,
            } => {
                let genesys_field = genesys_field
                    .as_ref()
                    .map_or(DEFAULT_GENESYS_FIELD, |f| f.as_str())
                    .to_owned();
                if !is_velocity_name(&genesys_field) {
                    return Err(format!(
                        "auth.api_key.genesys_field: `{genesys_field}` must start with a letter and hold only letters, digits and `_` (Genesys places it as ${{credentials.{genesys_field}}})"
                    ));
                }
                let header = HeaderName::from_bytes(header.as_str().as_bytes()).map_err(|_| {
                    format!(
                        "auth.api_key.header: `{}` is not a valid header name",
                        header.as_str()
                    )
                })?;
                if value.as_str().is_empty() {
                    return Err("auth.api_key.value is empty".to_owned());
                }
                Ok((
                    InboundAuth::ApiKey {
                        header,
                        digest: sha256(value.as_str().as_bytes()),
                        genesys_field,
                    },
                    vec![value.0.clone()],
                ))
            }
            AuthSpec {
                api_key: None,
                basic: Some(BasicSpec { username, password }),
            } => {
                if username.as_str().is_empty() || password.as_str().is_empty() {
                    return Err("auth.basic needs a non-empty username and password".to_owned());
                }
                if username.as_str().contains(':') {
                    return Err("auth.basic.username cannot contain `:`".to_owned());
                }
                let pair = format!("{}:{}", username.as_str(), password.as_str());
                Ok((
                    InboundAuth::Basic {
                        username: username.0.clone(),
                        digest: sha256(pair.as_bytes()),
                    },
                    vec![password.0.clone()],
                ))
            }
            _ => Err("auth: give exactly one of `api_key` or `basic`".to_owned()),
        }
    }

    /// Do the request's headers carry the right credentials?
    /// The stage: the request's credentials, checked.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Unauthorized> {
        if self.accepts(headers) {
            Ok(())
        } else {
            Err(Unauthorized)
        }
    }

    pub fn accepts(&self, headers: &HeaderMap) -> bool {
        let (expected, offered) = match self {
            InboundAuth::ApiKey { header, digest, .. } => {
                (digest, headers.get(header).map(|v| v.as_bytes().to_vec()))
            }
            InboundAuth::Basic { digest, .. } => (digest, basic_credentials(headers)),
        };
        // Hash even when nothing was offered, so a missing header takes as long as a wrong one.
        let offered_digest = sha256(offered.as_deref().unwrap_or_default());
        offered.is_some() && bool::from(offered_digest.ct_eq(expected))
    }
}

/// The credential field a *User Defined* credential carries when the bridge names none.
pub const DEFAULT_GENESYS_FIELD: &str = "apiKey";

fn is_velocity_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn basic_credentials(headers: &HeaderMap) -> Option<Vec<u8>> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::Text;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn api_key_must_match_exactly() {
        let spec = AuthSpec {
            api_key: Some(ApiKeySpec {
                header: Text("X-API-Key".into()),
                value: Text("k-123456".into()),
                genesys_field: None,
            }),
            basic: None,
        };
        let (auth, secrets) = InboundAuth::compile(&spec).unwrap();
        assert_eq!(secrets, ["k-123456"]);
        assert!(auth.accepts(&headers(&[("x-api-key", "k-123456")])));
        assert!(!auth.accepts(&headers(&[("x-api-key", "k-12345")])));
        assert!(!auth.accepts(&headers(&[])));
    }

    #[test]
    fn basic_checks_user_and_password_together() {
        let spec = AuthSpec {
            api_key: None,
            basic: Some(BasicSpec {
                username: Text("genesys".into()),
                password: Text("pa:ss".into()),
            }),
        };
        let (auth, _) = InboundAuth::compile(&spec).unwrap();
        let b64 = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert!(auth.accepts(&headers(&[("authorization", &b64("genesys:pa:ss"))])));
        assert!(!auth.accepts(&headers(&[("authorization", &b64("genesys:pa:sx"))])));
        assert!(!auth.accepts(&headers(&[("authorization", &b64("other:pa:ss"))])));
        assert!(!auth.accepts(&headers(&[("authorization", "Bearer x")])));
    }
}
