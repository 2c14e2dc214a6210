//! Where a bridge's requests go: the fixed origin of its upstream URL, prepared at load so the
//! request path neither parses nor formats it again. Also the key of its connection pool.

use std::sync::Arc;

use http::HeaderValue;
use http::uri::{Authority, Scheme};
use rustls_pki_types::ServerName;
use url::Url;

use super::tls::TlsProfile;

#[derive(Debug)]
pub struct Origin {
    pub(super) key: Box<str>,
    /// What the pool files its connections under: the key, and the TLS settings if any.
    pub(super) pool_key: Box<str>,
    pub(super) scheme: Scheme,
    pub(super) authority: Authority,
    pub(super) host: HeaderValue,
    /// The host as the resolver takes it (an IPv6 literal without brackets).
    connect_host: Box<str>,
    port: u16,
    /// For `https`: the name the certificate must carry.
    server_name: Option<ServerName<'static>>,
    /// A connection's own TLS settings; `None` for the defaults.
    tls: Option<Arc<TlsProfile>>,
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
        let connect_host = host.trim_start_matches('[').trim_end_matches(']');
        let server_name = match scheme == Scheme::HTTPS {
            true => Some(ServerName::try_from(connect_host.to_owned()).map_err(|e| invalid(&e))?),
            false => None,
        };
        Ok(Origin {
            key: format!("{scheme}://{authority}").into(),
            pool_key: format!("{scheme}://{authority}").into(),
            host: HeaderValue::try_from(authority.as_str()).map_err(|e| invalid(&e))?,
            authority: Authority::try_from(authority.as_str()).map_err(|e| invalid(&e))?,
            port: url.port_or_known_default().unwrap_or(80),
            connect_host: connect_host.into(),
            scheme,
            server_name,
            tls: None,
        })
    }

    /// This origin reached with `tls`: a pool of its own, apart from the default settings'.
    pub fn with_tls(mut self, tls: Arc<TlsProfile>) -> Self {
        self.pool_key = format!("{} tls:{}", self.key, tls.id).into();
        self.tls = Some(tls);
        self
    }

    pub(super) fn tls(&self) -> Option<&TlsProfile> {
        self.tls.as_deref()
    }

    pub(super) fn connect_host(&self) -> &str {
        &self.connect_host
    }

    pub(super) fn port(&self) -> u16 {
        self.port
    }

    pub(super) fn server_name(&self) -> Option<&ServerName<'static>> {
        self.server_name.as_ref()
    }
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
        assert_eq!((o.connect_host(), o.port()), ("api.example.com", 80));
        assert!(o.server_name().is_none());

        let o = origin("https://[::1]:8443/x");
        assert_eq!(&*o.key, "https://[::1]:8443");
        assert_eq!(o.host, "[::1]:8443");
        assert_eq!(o.scheme, Scheme::HTTPS);
        assert_eq!(o.authority, "[::1]:8443");
        assert_eq!((o.connect_host(), o.port()), ("::1", 8443));
        assert!(matches!(o.server_name(), Some(ServerName::IpAddress(_))));

        let o = origin("https://api.example.com");
        assert_eq!(o.port(), 443);
        assert!(matches!(o.server_name(), Some(ServerName::DnsName(_))));
    }
}
