//! The upstream request, as the render stage makes it and the fetch stage sends it.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method};

use super::Origin;
use crate::file::env::Secrets;

/// The upstream request for one inbound request, ready to send.
#[derive(Debug)]
pub struct UpstreamRequest {
    pub method: Method,
    /// The path and query, as sent in the request line.
    pub target: String,
    /// Where `target` is asked for, prepared at load: the connection pool's key.
    pub origin: Arc<Origin>,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
    /// Keep the answer's headers; without them the answer is read faster. Set by whoever
    /// knows what reads the answer (the pipeline: the bridge's output).
    pub keep_headers: bool,
}

/// Header names whose values are credentials whatever they hold.
pub fn is_sensitive_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "authorization" | "proxy-authorization" | "cookie"
    ) || [
        "key",
        "token",
        "secret",
        "auth",
        "password",
        "signature",
        "session",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

impl UpstreamRequest {
    /// The whole URL, for people to read.
    pub fn url(&self) -> String {
        format!("{}{}", self.origin.as_str(), self.target)
    }

    /// A readable account of the request with every credential masked, for `try` and debug logs.
    pub fn describe(&self, secrets: &Secrets) -> String {
        let mut text = format!("{} {}\n", self.method, self.url());
        for (name, value) in &self.headers {
            let shown = if is_sensitive_header(name.as_str()) {
                "***".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            text.push_str(&format!("{name}: {shown}\n"));
        }
        if let Some(body) = &self.body {
            text.push('\n');
            text.push_str(&String::from_utf8_lossy(body));
            text.push('\n');
        }
        secrets.mask(&text)
    }
}
