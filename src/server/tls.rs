//! TLS termination with rustls, for HTTP/1.1 and HTTP/2 (ALPN).
//!
//! The certificate and key are read again when their files change, so a renewed certificate
//! (cert-manager, certbot, a Kubernetes secret swap) is used by new connections without a
//! restart. The files are checked at most once a second, on a handshake; a pair that does not
//! load keeps the previous certificate serving, with a warning.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

const CHECK_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("the private key does not suit rustls: {0}")]
    Key(String),
}

/// The certificate chain (PEM, leaf first, with its intermediates) and its private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// An acceptor that serves `files`, offering h2 and http/1.1.
pub fn acceptor(files: TlsFiles) -> Result<TlsAcceptor, TlsError> {
    crate::stages::fetch::install_crypto_provider();
    let resolver = Reloading::new(files)?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[derive(Debug)]
struct Reloading {
    files: TlsFiles,
    current: ArcSwap<CertifiedKey>,
    last: Mutex<(Instant, Stamp)>,
}

/// What identifies a version of the two files: size, modification time and inode of each.
type Stamp = [(u64, i64, i64, u64); 2];

impl Reloading {
    fn new(files: TlsFiles) -> Result<Self, TlsError> {
        let key = load(&files)?;
        let stamp = stamp(&files);
        Ok(Reloading {
            files,
            current: ArcSwap::from_pointee(key),
            last: Mutex::new((Instant::now(), stamp)),
        })
    }

    fn refresh(&self) {
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if last.0.elapsed() < CHECK_EVERY {
            return;
        }
        last.0 = Instant::now();
        let now = stamp(&self.files);
        if now == last.1 {
            return;
        }
        match load(&self.files) {
            Ok(key) => {
                self.current.store(Arc::new(key));
                last.1 = now;
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
            }
            // Often a renewal caught between writing the two files: try again next second.
            Err(e) => {
                tracing::warn!(error = %e, "new TLS files do not load; keeping the previous certificate")
            }
        }
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.refresh();
        Some(self.current.load_full())
    }
}

fn stamp(files: &TlsFiles) -> Stamp {
    let one = |p: &Path| {
        fs::metadata(p).map_or((0, 0, 0, 0), |m| {
            (m.len(), m.mtime(), m.mtime_nsec(), m.ino())
        })
    };
    [one(&files.cert), one(&files.key)]
}

fn load(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let file_error = |path: &Path, message: String| TlsError::File {
        path: path.to_owned(),
        message,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| file_error(&files.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error(&files.cert, "holds no certificate".to_owned()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| file_error(&files.key, e.to_string()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| TlsError::Key(e.to_string()))?;
    Ok(CertifiedKey::new(certs, signing))
}
