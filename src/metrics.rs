//! The gateway's metrics, in one registry per gateway, rendered as Prometheus text at
//! `/-/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Empty for a path no bridge serves.
    pub bridge: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BridgeLabel {
    pub bridge: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub bridge: String,
    /// timeout, connect, status, redirect, invalid_json, mapping, too_large, failed
    pub kind: &'static str,
}

type Histograms = Family<BridgeLabel, Histogram, fn() -> Histogram>;

/// Latency buckets from 1 ms to 30 s: gateway overhead is well under a millisecond, and a
/// Genesys data action may wait up to 60 s.
fn latency_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

pub struct Metrics {
    registry: Registry,
    /// Requests to bridge routes (not `/-/`), by bridge and answered status.
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: Histograms,
    /// Time to the upstream's whole answer, when there was one.
    pub upstream_seconds: Histograms,
    /// Upstream calls that failed, by kind, also when `on_error: output` answered 200.
    pub upstream_failures: Family<FailureLabels, Counter>,
    pub in_flight: Gauge,
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
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests to bridge routes, by bridge and status",
            requests.clone(),
        );
        let request_seconds: Histograms = Family::new_with_constructor(latency_histogram);
        registry.register(
            "request_duration_seconds",
            "Time to answer a request, by bridge",
            request_seconds.clone(),
        );
        let upstream_seconds: Histograms = Family::new_with_constructor(latency_histogram);
        registry.register(
            "upstream_duration_seconds",
            "Time to the upstream's whole answer, by bridge",
            upstream_seconds.clone(),
        );
        let upstream_failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "upstream_failures",
            "Failed upstream calls, by bridge and kind",
            upstream_failures.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "requests_in_flight",
            "Requests to bridge routes being answered now",
            in_flight.clone(),
        );
        let bridge_files_failed = Gauge::default();
        registry.register(
            "bridge_files_failed",
            "Bridge files whose current version does not load",
            bridge_files_failed.clone(),
        );
        Metrics {
            registry,
            requests,
            request_seconds,
            upstream_seconds,
            upstream_failures,
            in_flight,
            reloads,
            bridges_loaded,
            bridge_files_failed,
        }
    }

    pub fn reload(&self, result: &'static str) {
        self.reloads.get_or_create(&ResultLabel { result }).inc();
    }

    /// Records one answered request to a bridge route: `bridge` is the bridge that matched
    /// (its name and handles), `None` for a path no bridge serves.
    pub fn request(
        &self,
        bridge: Option<(&str, &BridgeMeters)>,
        status: u16,
        took: Duration,
        upstream: Option<Duration>,
        failure: Option<&'static str>,
    ) {
        let Some((name, meters)) = bridge else {
            let bridge = String::new();
            self.requests
                .get_or_create(&RequestLabels {
                    bridge: bridge.clone(),
                    status,
                })
                .inc();
            self.request_seconds
                .get_or_create(&BridgeLabel { bridge })
                .observe(took.as_secs_f64());
            return;
        };
        let meters = meters.0.get_or_init(|| Meters::of(self, name));
        if status == 200 {
            meters.ok.inc();
        } else {
            let labels = RequestLabels {
                bridge: name.to_owned(),
                status,
            };
            self.requests.get_or_create(&labels).inc();
        }
        meters.request_seconds.observe(took.as_secs_f64());
        if let Some(upstream) = upstream {
            meters.upstream_seconds.observe(upstream.as_secs_f64());
        }
        if let Some(kind) = failure {
            let labels = FailureLabels {
                bridge: name.to_owned(),
                kind,
            };
            self.upstream_failures.get_or_create(&labels).inc();
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// One bridge's own entries in the metric families, looked up on its first request and then
/// kept, so that a request is counted without building label strings, hashing them and
/// taking the families' locks. A reloaded bridge looks them up again and finds the same
/// series: the families key them by name.
#[derive(Default)]
pub struct BridgeMeters(OnceLock<Meters>);

impl std::fmt::Debug for BridgeMeters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BridgeMeters")
    }
}

struct Meters {
    /// `requests{status="200"}`, by far the most common series; other statuses go through the
    /// family.
    ok: Counter,
    request_seconds: Histogram,
    upstream_seconds: Histogram,
}

impl Meters {
    fn of(metrics: &Metrics, name: &str) -> Self {
        let ok = RequestLabels {
            bridge: name.to_owned(),
            status: 200,
        };
        let bridge = BridgeLabel {
            bridge: name.to_owned(),
        };
        Meters {
            ok: metrics.requests.get_or_create(&ok).clone(),
            request_seconds: metrics.request_seconds.get_or_create(&bridge).clone(),
            upstream_seconds: metrics.upstream_seconds.get_or_create(&bridge).clone(),
        }
    }
}
