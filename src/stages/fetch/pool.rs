//! The connections of one worker: per upstream origin, idle HTTP/1.1 connections taken out for
//! an exchange, and the one shared HTTP/2 connection; the rule for sending a request again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::Full;
use hyper::client::conn::http2;

use super::connect::{Connector, Opened};
use super::{
    FetchError, Origin, UpstreamRequest, failed, h1, h2_request, is_final_status, read_capped,
    wire_error,
};

/// How long a pooled connection may sit unused before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle HTTP/1.1 connections kept per origin; more are closed when they come back.
const MAX_IDLE_PER_ORIGIN: usize = 256;

/// One upstream connection. An HTTP/2 one is shared by concurrent requests (the pool keeps a
/// handle while requests use others); an HTTP/1.1 one carries one exchange at a time and is
/// taken out of the pool for it.
enum Sender {
    H1(h1::Conn),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl From<Opened> for Sender {
    fn from(opened: Opened) -> Self {
        match opened {
            Opened::H1(conn) => Sender::H1(conn),
            Opened::H2(sender) => Sender::H2(sender),
        }
    }
}

impl Sender {
    /// May carry another request; for HTTP/1.1 a look at the socket (see [`h1::Conn::is_clean`]).
    fn is_usable(&mut self) -> bool {
        match self {
            Sender::H1(conn) => conn.is_clean(),
            Sender::H2(sender) => !sender.is_closed(),
        }
    }
}

struct Idle {
    sender: Sender,
    since: Instant,
}

/// One exchange's result, as the retry rule sees it.
enum Attempt {
    Answered(Result<Answer, FetchError>),
    /// The upstream did not act on the request (it closed the connection before answering, or
    /// answered 408 on a reused one): it may go once more on a new connection.
    NotActedOn(FetchError),
}

pub(super) struct Pool {
    connector: Connector,
    idle: Mutex<HashMap<Box<str>, Vec<Idle>>>,
    pub(super) max_body: usize,
}

/// One exchange's answer, before its time is added.
pub(super) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Pool {
    /// A pool, and (on a runtime) the task that closes its idle connections.
    pub fn start(max_body: usize) -> Arc<Self> {
        let pool = Arc::new(Pool {
            connector: Connector::new(),
            idle: Mutex::new(HashMap::new()),
            max_body,
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(close_idle(Arc::downgrade(&pool)));
        }
        pool
    }

    /// Sends on a pooled connection if a usable one is there, else on a new one. A request the
    /// upstream did not act on (a pooled connection it had just closed) goes once more on a
    /// new connection, if its method allows.
    pub async fn exchange(&self, request: &UpstreamRequest) -> Result<Answer, FetchError> {
        let origin = &*request.origin;
        let (sender, reused) = match self.checkout(origin) {
            Some(sender) => (sender, true),
            None => (self.open(origin).await?, false),
        };
        match self.attempt(sender, request, reused).await {
            Attempt::Answered(answer) => answer,
            Attempt::NotActedOn(_) if reused => {
                let sender = self.open(origin).await?;
                match self.attempt(sender, request, false).await {
                    Attempt::Answered(answer) => answer,
                    Attempt::NotActedOn(e) => Err(e),
                }
            }
            Attempt::NotActedOn(e) => Err(e),
        }
    }

    async fn attempt(&self, sender: Sender, request: &UpstreamRequest, reused: bool) -> Attempt {
        match sender {
            Sender::H1(conn) => self.attempt_h1(conn, request, reused).await,
            Sender::H2(sender) => self.attempt_h2(sender, request).await,
        }
    }

    async fn attempt_h1(
        &self,
        mut conn: h1::Conn,
        request: &UpstreamRequest,
        reused: bool,
    ) -> Attempt {
        let wire = h1::Request {
            method: &request.method,
            target: &request.target,
            host: &request.origin.host,
            headers: &request.headers,
            body: request.body.as_deref().unwrap_or_default(),
            keep_headers: request.keep_headers,
        };
        match conn.exchange(&wire, self.max_body).await {
            // A request that may have been acted on is never sent twice.
            Err(h1::WireError::NoAnswer) if request.method.is_idempotent() => {
                Attempt::NotActedOn(failed())
            }
            // On a reused connection a 408 is the upstream timing the idle connection out as
            // the request went out: the request was not read.
            Ok(answer) if reused && answer.status == StatusCode::REQUEST_TIMEOUT => {
                Attempt::NotActedOn(failed())
            }
            Ok(answer) => {
                if answer.reusable {
                    self.give_back(&request.origin, Sender::H1(conn));
                }
                Attempt::Answered(Ok(Answer {
                    status: answer.status,
                    headers: answer.headers,
                    body: answer.body,
                }))
            }
            Err(e) => Attempt::Answered(Err(wire_error(e, self.max_body))),
        }
    }

    async fn attempt_h2(
        &self,
        mut sender: http2::SendRequest<Full<Bytes>>,
        request: &UpstreamRequest,
    ) -> Attempt {
        let Ok(outgoing) = h2_request(request) else {
            return Attempt::Answered(Err(FetchError::Failed("the upstream URL is not valid")));
        };
        let response = match sender.try_send_request(outgoing).await {
            Ok(response) => response,
            Err(mut e) => {
                // Not sent at all, or sent and dropped unanswered: the latter only for methods
                // that are safe to repeat.
                let unsent = e.take_message().is_some();
                return match unsent || request.method.is_idempotent() {
                    true => Attempt::NotActedOn(failed()),
                    false => Attempt::Answered(Err(failed())),
                };
            }
        };
        let (parts, body) = response.into_parts();
        if !is_final_status(parts.status) {
            return Attempt::Answered(Err(FetchError::Failed("the answer's status is not valid")));
        }
        Attempt::Answered(
            read_capped(&parts.headers, body, self.max_body)
                .await
                .map(|body| Answer {
                    status: parts.status,
                    headers: parts.headers,
                    body,
                }),
        )
    }

    /// A usable idle connection to `origin`. HTTP/1.1 ones are taken out; an HTTP/2 one is
    /// shared, so it stays.
    fn checkout(&self, origin: &Origin) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(&*origin.pool_key)?;
        while let Some(mut entry) = list.pop() {
            if entry.since.elapsed() > IDLE_TIMEOUT || !entry.sender.is_usable() {
                continue;
            }
            if let Sender::H2(shared) = &entry.sender {
                let clone = shared.clone();
                entry.since = Instant::now();
                list.push(entry);
                return Some(Sender::H2(clone));
            }
            return Some(entry.sender);
        }
        None
    }

    async fn open(&self, origin: &Origin) -> Result<Sender, FetchError> {
        let sender = Sender::from(self.connector.open(origin).await?);
        if let Sender::H2(shared) = &sender {
            self.give_back(origin, Sender::H2(shared.clone()));
        }
        Ok(sender)
    }

    fn give_back(&self, origin: &Origin, sender: Sender) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = match idle.get_mut(&*origin.pool_key) {
            Some(list) => list,
            None => idle.entry(origin.pool_key.clone()).or_default(),
        };
        match sender {
            // The pool already holds this connection's handle.
            Sender::H2(_) if list.iter().any(|e| matches!(e.sender, Sender::H2(_))) => {}
            _ if list.len() >= MAX_IDLE_PER_ORIGIN => {}
            sender => list.push(Idle {
                sender,
                since: Instant::now(),
            }),
        }
    }
}

/// Closes connections idle for longer than [`IDLE_TIMEOUT`], or on which the upstream wrote
/// or closed, until the pool is dropped.
async fn close_idle(pool: Weak<Pool>) {
    let mut tick = tokio::time::interval(IDLE_TIMEOUT / 2);
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let mut idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
        for list in idle.values_mut() {
            list.retain_mut(|e| e.since.elapsed() <= IDLE_TIMEOUT && e.sender.is_usable());
        }
        idle.retain(|_, list| !list.is_empty());
    }
}
