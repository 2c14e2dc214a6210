//! `bridgeway_token_requests_total`: OAuth2 token requests by what asked and result. The counts
//! live with the token caches (which outlive reloads and are shared between bridges); this
//! collector reads them at each scrape from the list the gateway hands it after every reload.

use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

/// Something that counts token requests by result (`ok`, `refused`, …).
pub trait TokenCounter: Send + Sync {
    fn counts(&self) -> Vec<(&'static str, u64)>;
}

/// A token cache under the kind (`connection` or `bridge`) and name of what uses it.
pub type NamedCounter = (&'static str, String, Arc<dyn TokenCounter>);

/// The token caches in use.
#[derive(Clone, Default)]
pub struct TokenRequests(Arc<Mutex<Vec<NamedCounter>>>);

impl std::fmt::Debug for TokenRequests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenRequests")
    }
}

impl TokenRequests {
    /// Replaces the list (after a reload).
    pub fn set(&self, sources: Vec<NamedCounter>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = sources;
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct Labels {
    kind: &'static str,
    name: String,
    result: &'static str,
}

impl Collector for TokenRequests {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sources = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut family = encoder.encode_descriptor(
            "token_requests",
            "OAuth2 token requests, by what asked (a connection, or a bridge's own auth) and result",
            None,
            MetricType::Counter,
        )?;
        for (kind, name, counter) in &sources {
            for (result, count) in counter.counts() {
                let labels = Labels {
                    kind,
                    name: name.clone(),
                    result,
                };
                ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
