//! The standard process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! …), named as every Prometheus client library names them so that stock dashboards and alerts
//! work. prometheus-client 0.25 has no process collector, so this one reads `/proc/self` at
//! each scrape: nothing runs between scrapes. On other systems, or when `/proc` cannot be read
//! (mounted `hidepid`, a sandbox without it), the metrics that cannot be read are left out
//! rather than reported as 0.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Reads the process's own figures at each scrape.
#[derive(Debug, Default)]
pub struct ProcessCollector;

/// One reading of `/proc/self`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Reading {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<i64>,
    pub virtual_bytes: Option<i64>,
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<i64>,
    pub max_fds: Option<i64>,
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let r = Reading::now();
        if let Some(v) = r.cpu_seconds {
            let metric = ConstCounter::new(v);
            let help = "Total user and system CPU time spent, in seconds";
            metric.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                help,
                None,
                metric.metric_type(),
            )?)?;
        }
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size, in bytes",
                r.resident_bytes.map(|v| v as f64),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size, in bytes",
                r.virtual_bytes.map(|v| v as f64),
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch, in seconds",
                r.start_time_seconds,
            ),
            (
                "process_open_fds",
                "Open file descriptors",
                r.open_fds.map(|v| v as f64),
            ),
            (
                "process_max_fds",
                "Most file descriptors the process may open",
                r.max_fds.map(|v| v as f64),
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(v) = value {
                let metric = ConstGauge::new(v);
                metric.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    metric.metric_type(),
                )?)?;
            }
        }
        Ok(())
    }
}

impl Reading {
    /// Reads the figures now; any that cannot be read are `None`.
    #[cfg(target_os = "linux")]
    pub fn now() -> Self {
        use std::fs;
        let stat = fs::read_to_string("/proc/self/stat").ok();
        let stat = stat.as_deref().and_then(Stat::parse);
        let boot_time = fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| boot_time(&s));
        // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let ticks = (ticks > 0).then_some(ticks as f64);
        let page = (page > 0).then_some(page as i64);
        Reading {
            cpu_seconds: stat.zip(ticks).map(|(s, t)| (s.utime + s.stime) as f64 / t),
            resident_bytes: stat.zip(page).map(|(s, p)| s.rss_pages * p),
            virtual_bytes: stat.map(|s| s.vsize as i64),
            start_time_seconds: stat
                .zip(ticks)
                .zip(boot_time)
                .map(|((s, t), boot)| boot as f64 + s.starttime as f64 / t),
            open_fds: fs::read_dir("/proc/self/fd")
                .ok()
                // The directory handle read_dir holds is one of the entries: not counted.
                .map(|d| d.count() as i64 - 1),
            max_fds: fs::read_to_string("/proc/self/limits")
                .ok()
                .and_then(|s| max_open_files(&s)),
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn now() -> Self {
        Reading::default()
    }
}

/// The fields of `/proc/self/stat` used here.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stat {
    utime: u64,
    stime: u64,
    starttime: u64,
    vsize: u64,
    rss_pages: i64,
}

impl Stat {
    /// Parses `/proc/PID/stat` (proc(5)). The command name, field 2, is in parentheses and may
    /// hold spaces and parentheses itself, so the fields are counted from the last `)`.
    fn parse(text: &str) -> Option<Stat> {
        let after = &text[text.rfind(')')? + 1..];
        // Field 3 (state) is index 0 here, so field N is index N - 3.
        let fields: Vec<&str> = after.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).copied();
        Some(Stat {
            utime: field(14)?.parse().ok()?,
            stime: field(15)?.parse().ok()?,
            starttime: field(22)?.parse().ok()?,
            vsize: field(23)?.parse().ok()?,
            rss_pages: field(24)?.parse().ok()?,
        })
    }
}

/// `btime` of `/proc/stat`: the boot time, in seconds since the epoch.
fn boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit of `Max open files` in `/proc/PID/limits`; `None` when unlimited.
fn max_open_files(limits: &str) -> Option<i64> {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line = "28434 (a (b) c) R 28432 28432 24031 0 -1 4194304 99 0 0 0 7 3 0 0 20 0 1 0 419442 3133440 359 18446744073709551615 0 0";
        assert_eq!(
            Stat::parse(line),
            Some(Stat {
                utime: 7,
                stime: 3,
                starttime: 419442,
                vsize: 3133440,
                rss_pages: 359,
            })
        );
        assert_eq!(Stat::parse("12 (x) R 1 2"), None);
    }

    #[test]
    fn boot_time_and_the_open_files_limit_are_read() {
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1796085412\nprocesses 9\n"),
            Some(1796085412)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             63459                63459                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(
            max_open_files(
                "Max open files            unlimited            unlimited            files\n"
            ),
            None
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_as_plausible() {
        let r = Reading::now();
        assert!(r.cpu_seconds.is_some_and(|c| c >= 0.0), "{r:?}");
        assert!(r.resident_bytes.is_some_and(|b| b > 1024 * 1024), "{r:?}");
        assert!(r.virtual_bytes >= r.resident_bytes, "{r:?}");
        assert!(r.open_fds.is_some_and(|n| n >= 3), "{r:?}");
        assert!(r.max_fds.is_some_and(|n| n >= r.open_fds.unwrap()), "{r:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = r.start_time_seconds.unwrap();
        assert!(started <= now + 1.0 && started > now - 86_400.0, "{r:?}");
    }
}
