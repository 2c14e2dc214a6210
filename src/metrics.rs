//! The gateway's metrics, in one registry per gateway, rendered at `/-/metrics` as OpenMetrics
//! text, or as the Prometheus text format for a scraper that asks for that instead. The
//! gateway's own are named `bridgeway_…`; the standard `process_…` ones come from
//! [`process`], read at each scrape.

pub mod process;
mod tokens;

pub use tokens::{NamedCounter, TokenCounter, TokenRequests};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::fmt::Write;
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
pub struct VersionLabel {
    pub version: &'static str,
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
    /// The token caches in use, read at each scrape.
    pub token_requests: TokenRequests,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        // The process metrics at the root, unprefixed as every client library names them; the
        // gateway's own under `bridgeway_`.
        let mut root = Registry::default();
        root.register_collector(Box::new(process::ProcessCollector));
        let registry = root.sub_registry_with_prefix("bridgeway");
        // The version as a label on a constant 1, the usual way to put it beside any series
        // in a query (`* on (instance) group_left(version) bridgeway_build_info`).
        let build_info = Family::<VersionLabel, Gauge>::default();
        build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "build_info",
            "The gateway's version, as a label; the value is always 1",
            build_info,
        );
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
        let token_requests = TokenRequests::default();
        registry.register_collector(Box::new(token_requests.clone()));
        Metrics {
            token_requests,
            registry: root,
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

    /// The exposition in `format`.
    pub fn render(&self, format: Exposition) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        match format {
            Exposition::OpenMetrics => text,
            Exposition::PrometheusText => openmetrics_to_prometheus_text(&text),
        }
    }
}

/// The two text formats a scraper may ask for. prometheus-client writes OpenMetrics only; the
/// body must match the announced type, or Prometheus parses the counters' `_total` samples
/// under no `# TYPE` at all and stores them untyped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposition {
    OpenMetrics,
    /// The Prometheus text format 0.0.4, for scrapers and tools without OpenMetrics.
    PrometheusText,
}

impl Exposition {
    pub fn content_type(self) -> &'static str {
        match self {
            Exposition::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Exposition::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// OpenMetrics unless the `Accept` header ranks `text/plain` above it, as Prometheus
    /// client libraries negotiate. Prometheus itself ranks OpenMetrics first.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Exposition::OpenMetrics;
        };
        let openmetrics = quality(accept, "application/openmetrics-text");
        if quality(accept, "text/plain") > openmetrics {
            Exposition::PrometheusText
        } else {
            Exposition::OpenMetrics
        }
    }
}

/// The `q` the `Accept` header gives `media` (`type/subtype`): that of its most specific
/// matching range (`type/subtype`, then `type/*`, then `*/*`), 0 when none matches. Parameters
/// other than `q`, such as a format version, are not told apart.
fn quality(accept: &str, media: &str) -> f32 {
    let family = media.split('/').next().unwrap_or_default();
    let mut best = (0u8, 0.0f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let specificity = match name.split_once('/') {
            _ if name == media => 3,
            Some((f, "*")) if f == family => 2,
            Some(("*", "*")) => 1,
            _ => continue,
        };
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=")?.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        if (specificity, q) > best {
            best = (specificity, q);
        }
    }
    best.1
}

/// prometheus-client's OpenMetrics text rewritten in the Prometheus text format 0.0.4. For the
/// counters, gauges and histograms registered here the two differ only in that OpenMetrics
/// names a counter family without the `_total` its samples carry, and has `# UNIT` lines and a
/// closing `# EOF`.
fn openmetrics_to_prometheus_text(openmetrics: &str) -> String {
    let counters: HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = line
            .strip_prefix("# HELP ")
            .map(|rest| ("HELP", rest))
            .or_else(|| line.strip_prefix("# TYPE ").map(|rest| ("TYPE", rest)));
        match descriptor.and_then(|(kind, rest)| Some((kind, rest.split_once(' ')?))) {
            Some((kind, (name, rest))) if counters.contains(name) => {
                let _ = writeln!(text, "# {kind} {name}_total {rest}");
            }
            _ => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
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

#[cfg(test)]
mod tests {
    use super::*;

    const PROMETHEUS_2: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn negotiation_prefers_openmetrics_unless_text_ranks_higher() {
        use Exposition::*;
        for (accept, expected) in [
            (None, OpenMetrics),
            (Some(PROMETHEUS_2), OpenMetrics),
            (Some("*/*"), OpenMetrics),
            (Some("application/json"), OpenMetrics),
            (Some("text/plain;version=0.0.4"), PrometheusText),
            (
                Some("text/plain; version=0.0.4; q=0.9, */*; q=0.1"),
                PrometheusText,
            ),
            (Some("text/*"), PrometheusText),
            (
                Some("application/openmetrics-text;q=0.2, text/plain;q=0.3"),
                PrometheusText,
            ),
            (Some("text/plain;q=0.3, application/*;q=0.4"), OpenMetrics),
            (Some("text/plain;q=0, */*"), OpenMetrics),
        ] {
            assert_eq!(Exposition::negotiate(accept), expected, "{accept:?}");
        }
    }

    #[test]
    fn the_text_format_names_counter_families_with_total_and_has_no_eof() {
        let metrics = Metrics::new();
        metrics.reload("ok");
        let text = metrics.render(Exposition::PrometheusText);
        let lines: Vec<&str> = text.lines().collect();
        let reloads = lines
            .iter()
            .position(|l| *l == "# TYPE bridgeway_reloads_total counter")
            .unwrap_or_else(|| panic!("{text}"));
        assert!(lines[reloads - 1].starts_with("# HELP bridgeway_reloads_total "));
        assert_eq!(
            lines[reloads + 1],
            r#"bridgeway_reloads_total{result="ok"} 1"#
        );
        assert!(
            lines.contains(&"# TYPE bridgeway_bridges_loaded gauge"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
        let openmetrics = metrics.render(Exposition::OpenMetrics);
        assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
        assert!(openmetrics.contains("# TYPE bridgeway_reloads counter\n"));
    }
}
