//! Prometheus metrics, served on the admin listener at `GET /metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use std::time::Duration;

/// Every metric Levy exports; one instance per running service.
pub struct Metrics {
    registry: Registry,
    /// Requests by listener, endpoint (route pattern) and status.
    pub requests: IntCounterVec,
    /// Request latency by listener and endpoint.
    pub latency: HistogramVec,
    /// Commits, adjusts and voids that were acknowledged.
    pub quote_operations: IntCounterVec,
    /// Duration of each group flush (sled flush + fsync).
    pub flush_seconds: HistogramVec,
    /// How many writers each group flush covered.
    pub flush_writers: HistogramVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "levy_http_requests_total",
                "HTTP requests by listener, endpoint and status",
            ),
            &["listener", "endpoint", "status"],
        )
        .expect("metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("levy_http_request_duration_seconds", "HTTP request latency")
                .buckets(vec![
                    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05,
                    0.1, 0.25, 1.0,
                ]),
            &["listener", "endpoint"],
        )
        .expect("metric");
        let quote_operations = IntCounterVec::new(
            Opts::new(
                "levy_quote_operations_total",
                "Acknowledged commits, adjusts and voids",
            ),
            &["operation"],
        )
        .expect("metric");
        let flush_seconds = HistogramVec::new(
            HistogramOpts::new(
                "levy_store_flush_duration_seconds",
                "Group flush latency (flush + fsync)",
            )
            .buckets(vec![
                0.000_1, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0,
            ]),
            &[],
        )
        .expect("metric");
        let flush_writers = HistogramVec::new(
            HistogramOpts::new(
                "levy_store_flush_writers",
                "Writers acknowledged by one group flush",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]),
            &[],
        )
        .expect("metric");
        for m in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(quote_operations.clone()),
            Box::new(flush_seconds.clone()),
            Box::new(flush_writers.clone()),
        ] {
            registry.register(m).expect("unique metric names");
        }
        Metrics {
            registry,
            requests,
            latency,
            quote_operations,
            flush_seconds,
            flush_writers,
        }
    }

    pub fn observe_flush(&self, took: Duration, writers: usize) {
        self.flush_seconds
            .with_label_values(&[] as &[&str])
            .observe(took.as_secs_f64());
        self.flush_writers
            .with_label_values(&[] as &[&str])
            .observe(writers as f64);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encode metrics");
        String::from_utf8(buf).expect("metrics are UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
