//! The listening sockets: one `SO_REUSEPORT` listener per worker, all on one port, and never a
//! port that something else already listens on.
//!
//! On Linux a bind with `SO_REUSEPORT` succeeds whenever every socket already bound to the
//! address set it too and belongs to the same user: a second `bridgeway serve` started by the
//! same user would join the first one's port, and the kernel would split the traffic between
//! two bridge directories without a word. So the address is first claimed with a bind that does
//! not set `SO_REUSEPORT`, which fails against any socket bound there (another gateway's
//! listeners included), and is released just before the workers bind. Another process could
//! only slip in between if it made its own claim and released it inside that window of a few
//! system calls; a gateway doing so would then find our listeners there and refuse to start.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Why the gateway cannot start serving.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(
        "cannot listen on {addr}: the address is already in use (by another bridgeway or another \
         program); stop that one or choose another {flag} address"
    )]
    InUse {
        addr: SocketAddr,
        /// The flag that gave the address: `--listen` or `--admin-listen`.
        flag: &'static str,
    },
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot start a worker thread")]
    Worker(#[source] io::Error),
}

impl ListenError {
    fn of(addr: SocketAddr, flag: &'static str, error: io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::AddrInUse => ListenError::InUse { addr, flag },
            _ => ListenError::Bind {
                addr,
                source: error,
            },
        }
    }
}

/// `workers` listeners (at least one) sharing `addr`, once no other socket holds it. Port 0
/// becomes one port the kernel picked, shared by every listener. `flag` names where the
/// address came from, for the error.
pub fn bind(
    addr: SocketAddr,
    workers: usize,
    flag: &'static str,
) -> Result<Vec<std::net::TcpListener>, ListenError> {
    let addr = claim(addr).map_err(|e| ListenError::of(addr, flag, e))?;
    (0..workers.max(1))
        .map(|_| reuseport_listener(addr).map_err(|e| ListenError::of(addr, flag, e)))
        .collect()
}

/// Binds `addr` without `SO_REUSEPORT` and lets it go again, returning the address bound (the
/// real port for port 0). `SO_REUSEADDR` only lets it past connections of an earlier run still
/// in TIME_WAIT; a listening socket still refuses it.
fn claim(addr: SocketAddr) -> io::Result<SocketAddr> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("the bound address is not an IP address"))
}

fn reuseport_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback_any_port() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    #[test]
    fn port_zero_gives_every_worker_one_real_port() {
        let listeners = bind(loopback_any_port(), 3, "--listen").unwrap();
        let addrs: Vec<_> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        assert_ne!(addrs[0].port(), 0);
        assert!(addrs.iter().all(|a| *a == addrs[0]), "{addrs:?}");
    }

    #[test]
    fn an_address_held_by_another_gateway_is_refused() {
        let first = bind(loopback_any_port(), 2, "--listen").unwrap();
        let addr = first[0].local_addr().unwrap();
        let second = bind(addr, 2, "--listen").unwrap_err();
        assert!(
            matches!(second, ListenError::InUse { addr: a, .. } if a == addr),
            "{second:?}"
        );
    }

    #[test]
    fn an_address_held_by_a_plain_listener_is_refused() {
        let holder = std::net::TcpListener::bind(loopback_any_port()).unwrap();
        let addr = holder.local_addr().unwrap();
        let error = bind(addr, 1, "--admin-listen").unwrap_err().to_string();
        assert!(error.contains(&addr.to_string()), "{error}");
        assert!(error.contains("already in use"), "{error}");
        assert!(error.contains("another --admin-listen address"), "{error}");
    }
}
