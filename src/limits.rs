//! Every default limit and timeout of the server, in one place: [`Settings::default`] and the
//! command line's defaults both read them.
//!
//! [`Settings::default`]: crate::routes::Settings

use std::time::Duration;

/// Largest inbound body, in bytes (SPEC §2: 1 MiB, chunked bodies too).
pub const MAX_BODY: usize = 1024 * 1024;
/// Largest upstream answer body, in bytes; past it the answer is 502.
pub const MAX_UPSTREAM_BODY: usize = 10 * 1024 * 1024;
/// How long a caller may take to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a caller may take to send its whole body once its headers are in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests in flight may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Most headers one request may carry.
pub const MAX_HEADERS: usize = 100;
/// Largest request head (request line and headers), in bytes.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Deepest nesting of a JSON body (Genesys allows 50 levels).
pub const MAX_JSON_DEPTH: usize = 50;
/// Requests one bridge answers at once; past it, 503 with `Retry-After`.
pub const MAX_IN_FLIGHT_PER_BRIDGE: usize = 1024;
/// How often the bridge directory is read again without a change event.
pub const RESCAN_INTERVAL: Duration = Duration::from_secs(30);
/// How long the gateway keeps serving after SIGTERM, with `/-/ready` answering 503, before it
/// stops accepting: the time a load balancer needs to stop sending. 0: stop accepting at once.
pub const DRAIN_DELAY: Duration = Duration::ZERO;
