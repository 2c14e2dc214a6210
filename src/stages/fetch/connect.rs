//! Opening a connection to an upstream origin: TCP to each address its name resolves to in
//! turn, each given a share of the connect timeout (as hyper-util's `HttpConnector` does, so
//! one address that swallows packets cannot use the whole of it), then for `https` TLS by
//! rustls (the origin's own settings, [`super::tls`], or the defaults) with HTTP/2 or
//! HTTP/1.1 chosen by ALPN.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::FetchError;
use super::h1::{Conn, Stream};
use super::origin::Origin;
use super::tls::client_config;

/// How long connecting to one origin (every address, and the TLS handshake) may take; the
/// bridge's own timeout bounds it too.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A new connection, by the protocol the upstream chose.
pub(super) enum Opened {
    H1(Conn),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// Opens connections; holds the default TLS settings, made once.
pub(super) struct Connector {
    tls: tokio_rustls::TlsConnector,
}

impl Connector {
    /// TLS on ring, verified by the platform's verifier (the system roots; `SSL_CERT_FILE` on
    /// Linux), offering HTTP/2 and HTTP/1.1.
    pub fn new() -> Self {
        let config = client_config(Vec::new(), None)
            .unwrap_or_else(|e| panic!("the TLS client cannot be set up on this system: {e}"));
        Connector {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }
    }

    pub async fn open(&self, origin: &Origin) -> Result<Opened, FetchError> {
        tokio::time::timeout(CONNECT_TIMEOUT, self.open_within(origin))
            .await
            .unwrap_or(Err(FetchError::Connect))
    }

    async fn open_within(&self, origin: &Origin) -> Result<Opened, FetchError> {
        let tcp = connect_tcp(origin.connect_host(), origin.port(), CONNECT_TIMEOUT)
            .await
            .map_err(|_| FetchError::Connect)?;
        let Some(server_name) = origin.server_name() else {
            return Ok(Opened::H1(Conn::new(Stream::Tcp(tcp))));
        };
        let connector = origin.tls().map_or(&self.tls, |t| t.connector());
        let tls = connector
            .connect(server_name.clone(), tcp)
            .await
            .map_err(|_| FetchError::Connect)?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Ok(Opened::H1(Conn::new(Stream::Tls(Box::new(tls)))));
        }
        let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .map_err(|_| FetchError::Connect)?;
        tokio::spawn(connection);
        Ok(Opened::H2(sender))
    }
}

async fn connect_tcp(host: &str, port: u16, within: Duration) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    connect_any(&addrs, within).await
}

/// The first of `addrs` that accepts, each tried for its share of `within`.
async fn connect_any(addrs: &[SocketAddr], within: Duration) -> io::Result<TcpStream> {
    let share = within / addrs.len().max(1) as u32;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name has no address");
    for addr in addrs {
        match tokio::time::timeout(share, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Ok(Err(e)) => last = e,
            Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, "connecting timed out"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A listener whose accept queue is full: further connection attempts get no answer at
    /// all, as with an address that drops packets.
    fn swallowing_listener() -> (socket2::Socket, Vec<std::net::TcpStream>, SocketAddr) {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket
            .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        socket.listen(0).unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        let mut held = Vec::new();
        for _ in 0..4 {
            let mut stream =
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200));
            if let Ok(stream) = stream.as_mut() {
                stream.set_nonblocking(true).unwrap();
            }
            held.extend(stream.ok());
        }
        (socket, held, addr)
    }

    #[tokio::test]
    async fn every_address_is_tried_until_one_accepts() {
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live_addr = live.local_addr().unwrap();
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let (_socket, _held, swallowed) = swallowing_listener();

        let started = Instant::now();
        let stream = connect_any(&[refused, swallowed, live_addr], Duration::from_secs(3))
            .await
            .expect("the third address accepts");
        assert_eq!(stream.peer_addr().unwrap(), live_addr);
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(2500),
            "the silent address had only its share of the timeout: {took:?}"
        );
    }

    #[tokio::test]
    async fn no_address_that_accepts_is_an_error() {
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        assert!(
            connect_any(&[refused], Duration::from_secs(1))
                .await
                .is_err()
        );
        assert!(connect_any(&[], Duration::from_secs(1)).await.is_err());
    }
}
