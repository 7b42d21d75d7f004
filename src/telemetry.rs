//! Process-wide telemetry: the tracing subscriber and the Prometheus recorder. These are the
//! only global state in bosun, installed once per process.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// Client libraries whose own failure lines bosun silences unless `RUST_LOG` names them.
/// octocrab logs every 4xx/5xx and broken connection at `ERROR` from its HTTP layer, before
/// bosun has classified the failure; the adapter logs it once, at `WARN` when the delivery
/// will be retried, and the queue logs an error only when it gives up.
const QUIET_CLIENTS: &[&str] = &["octocrab"];

/// The filter directives: `RUST_LOG` (default `info`), with each of [`QUIET_CLIENTS`] turned
/// off unless `RUST_LOG` says something about it.
pub fn filter_directives(rust_log: Option<&str>) -> String {
    let base = rust_log
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("info");
    let mut directives = base.to_string();
    for client in QUIET_CLIENTS {
        if !base.contains(client) {
            directives.push_str(&format!(",{client}=off"));
        }
    }
    directives
}

/// Installs the log subscriber: `RUST_LOG` filters (see [`filter_directives`]),
/// `BOSUN_LOG_FORMAT=json` switches to JSON lines. Safe to call more than once.
pub fn init_tracing() {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = EnvFilter::try_new(filter_directives(rust_log.as_deref()))
        .unwrap_or_else(|_| EnvFilter::new(filter_directives(None)));
    let json = std::env::var("BOSUN_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0, 60.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets(&buckets)
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// A log sink the test can read back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(directives: &str) -> String {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(directives))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "octocrab", "failed with status 502 Bad Gateway");
            tracing::warn!(target: "bosun::forge", "GitHub 502 on POST /labels; retried");
        });
        let bytes = sink.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// issue 12 item 9: a retried 502 shows no ERROR line from octocrab, only bosun's WARN.
    #[test]
    fn octocrab_failure_lines_are_silenced_by_default() {
        for rust_log in [None, Some("info"), Some("debug"), Some("")] {
            let out = logged(&filter_directives(rust_log));
            assert!(!out.contains("failed with status"), "{rust_log:?}: {out}");
            assert!(out.contains("GitHub 502 on POST"), "{rust_log:?}: {out}");
        }
    }

    /// An operator who asks for octocrab's lines gets them.
    #[test]
    fn rust_log_naming_octocrab_keeps_its_lines() {
        let out = logged(&filter_directives(Some("info,octocrab=debug")));
        assert!(out.contains("failed with status"), "{out}");
    }
}
