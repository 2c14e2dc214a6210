//! TLS client settings: the defaults (the platform's verifier and roots) and a connection's
//! own (SPEC §5.1 `tls`: private roots, a client certificate), each built once, at load.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls_platform_verifier::BuilderVerifierExt;

/// A connection's own TLS settings (SPEC §5.1 `tls`): private roots trusted besides the
/// system's, and a client certificate for mutual TLS. Read and checked at load.
pub struct TlsProfile {
    connector: tokio_rustls::TlsConnector,
    /// For clients other than ours (the token endpoint's): the same trust and identity.
    config: Arc<ClientConfig>,
    /// Tells pools apart: two profiles for one origin must never share a connection.
    pub(super) id: Box<str>,
}

impl std::fmt::Debug for TlsProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsProfile").field("id", &self.id).finish()
    }
}

/// A `tls` setting that cannot be used; names the file, never its content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("{what}: cannot read `{path}`: {reason}")]
    Read {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("{what}: `{path}` holds no PEM certificate")]
    NoCertificate { what: &'static str, path: String },
    #[error("tls: give both `client_cert` and `client_key`, or neither")]
    HalfIdentity,
    #[error("tls: the client certificate and key cannot be used together: {0}")]
    Identity(String),
}

impl TlsProfile {
    /// `ca_file`: PEM roots trusted besides the system's; `identity`: PEM chain and key.
    pub fn load(
        ca_file: Option<&std::path::Path>,
        client_cert: Option<&std::path::Path>,
        client_key: Option<&std::path::Path>,
    ) -> Result<Self, TlsError> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        use sha2::{Digest, Sha256};

        let mut digest = Sha256::new();
        let roots = match ca_file {
            Some(path) => read_certs("tls.ca_file", path, &mut digest)?,
            None => Vec::new(),
        };
        let identity = match (client_cert, client_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                let chain = read_certs("tls.client_cert", cert, &mut digest)?;
                let bytes = read("tls.client_key", key)?;
                digest.update(&bytes);
                let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Read {
                    what: "tls.client_key",
                    path: key.display().to_string(),
                    reason: format!("no PEM private key ({e})"),
                })?;
                Some((chain, key))
            }
            _ => return Err(TlsError::HalfIdentity),
        };
        let mut config = client_config(roots, identity)?;
        let id: String = digest.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config.clone()));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        return Ok(TlsProfile {
            connector,
            config: Arc::new(config),
            id: id.into(),
        });

        fn read(what: &'static str, path: &std::path::Path) -> Result<Vec<u8>, TlsError> {
            std::fs::read(path).map_err(|e| TlsError::Read {
                what,
                path: path.display().to_string(),
                reason: e.to_string(),
            })
        }

        fn read_certs(
            what: &'static str,
            path: &std::path::Path,
            digest: &mut Sha256,
        ) -> Result<Vec<CertificateDer<'static>>, TlsError> {
            let bytes = read(what, path)?;
            digest.update(&bytes);
            let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
                .filter_map(Result::ok)
                .collect();
            if certs.is_empty() {
                return Err(TlsError::NoCertificate {
                    what,
                    path: path.display().to_string(),
                });
            }
            Ok(certs)
        }
    }

    pub(super) fn connector(&self) -> &tokio_rustls::TlsConnector {
        &self.connector
    }

    /// Tells profiles apart (a digest of the files' contents).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The same trust and identity for an HTTP/1.1 client (the token endpoint's, by reqwest).
    pub fn http1_config(&self) -> ClientConfig {
        (*self.config).clone()
    }
}

/// rustls on ring, the platform's verifier with `roots` added, `identity` for mutual TLS, ALPN
/// offering HTTP/2 and HTTP/1.1.
pub(super) fn client_config(
    roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    identity: Option<(
        Vec<rustls_pki_types::CertificateDer<'static>>,
        rustls_pki_types::PrivateKeyDer<'static>,
    )>,
) -> Result<ClientConfig, TlsError> {
    super::install_crypto_provider();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Identity(e.to_string()))?;
    let builder = if roots.is_empty() {
        builder
            .with_platform_verifier()
            .map_err(|e| TlsError::Identity(e.to_string()))?
    } else {
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider)
            .map_err(|e| TlsError::Identity(e.to_string()))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    };
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| TlsError::Identity(e.to_string()))?,
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
