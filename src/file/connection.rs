//! The connection file as written (SPEC §5.1): a base URL, default headers and timeout,
//! credentials and TLS settings that several bridges share by name.

use serde::Deserialize;

use super::{FieldMap, Kind, Text, UpstreamAuthSpec};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionFile {
    /// `connection` (how the loader told it from a bridge).
    pub kind: Kind,
    pub name: Option<Text>,
    pub description: Option<Text>,
    /// `scheme://host[:port][/base/path]`, fixed once `${VAR}` is expanded.
    pub base_url: Text,
    #[serde(default)]
    pub headers: FieldMap<Text>,
    pub timeout: Option<Text>,
    pub auth: Option<UpstreamAuthSpec>,
    pub tls: Option<TlsSpec>,
}

/// OAuth2 client credentials (RFC 6749 §4.4), with the vendor variations of SPEC §5.1.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Spec {
    pub token_url: Text,
    pub client_id: Text,
    pub client_secret: Text,
    pub scope: Option<Text>,
    pub grant_type: Option<Text>,
    #[serde(default)]
    pub params: FieldMap<Text>,
    #[serde(default)]
    pub client_auth: ClientAuth,
}

impl OAuth2Spec {
    /// The values to mask: the client's id and secret and the extra parameters (Zoom's
    /// `account_id`). The token URL, scope and grant type name public things and stay readable
    /// so that error messages can be acted on.
    pub fn values(&self) -> Vec<&str> {
        let mut out = vec![self.client_id.as_str(), self.client_secret.as_str()];
        out.extend(self.params.0.values().map(Text::as_str));
        out
    }
}

/// How the client authenticates to the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// HTTP Basic, RFC 6749 §2.3.1 (id and secret form-encoded first).
    #[default]
    Basic,
    /// `client_id` and `client_secret` as form fields (`client_secret_post`).
    Body,
}

/// TLS to the upstream beyond the system roots.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// PEM certificates trusted in addition to the system roots.
    pub ca_file: Option<Text>,
    /// PEM certificate chain and key for mutual TLS (both or neither).
    pub client_cert: Option<Text>,
    pub client_key: Option<Text>,
}
