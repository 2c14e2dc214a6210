//! The gateway's metrics, in one registry per gateway, rendered as Prometheus text at
//! `/-/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

pub struct Metrics {
    registry: Registry,
    /// Reloads by result: `ok` (every file loaded), `partial` (some failed and kept their
    /// last good version), `failed` (the directory could not be read).
    pub reloads: Family<ResultLabel, Counter>,
    pub bridges_loaded: Gauge,
    pub bridge_files_failed: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("bridgeway");
        let reloads = Family::<ResultLabel, Counter>::default();
        registry.register(
            "reloads",
            "Reloads of the bridge directory, by result",
            reloads.clone(),
        );
        let bridges_loaded = Gauge::default();
        registry.register(
            "bridges_loaded",
            "Bridges being served",
            bridges_loaded.clone(),
        );
        let bridge_files_failed = Gauge::default();
        registry.register(
            "bridge_files_failed",
            "Bridge files whose current version does not load",
            bridge_files_failed.clone(),
        );
        Metrics {
            registry,
            reloads,
            bridges_loaded,
            bridge_files_failed,
        }
    }

    pub fn reload(&self, result: &'static str) {
        self.reloads.get_or_create(&ResultLabel { result }).inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
