//! The record sinks the applications install on a live [`Evaluator`]: Prometheus telemetry,
//! the alert webhook and the stop webhook (each a queue and thread of its own, so a stop
//! verdict is never queued behind failing alert deliveries).
use super::run_page::Pages;
use super::{telemetry, webhook::Webhook};
use crate::alert::{Action, Decision};
use crate::config::Settings;
use crate::evaluator::Evaluator;
use crate::evaluator::sink::{RecordSink, Sinks};
use crate::model::Model;
use crate::score::record::Record;
use std::sync::Arc;
use std::time::Instant;

/// Metrics from every record; a stream's series leave the recorder when it is gone.
pub struct Telemetry;

impl RecordSink for Telemetry {
    fn record(&self, r: &Record) {
        telemetry::observe(r);
    }

    fn stream_gone(&self, stream: &str) {
        telemetry::forget_stream(stream);
    }
}

/// Alerts whose action is `webhook` or `stop` (`alerting.webhook`).
pub struct AlertHook(pub Webhook);

impl RecordSink for AlertHook {
    fn record(&self, r: &Record) {
        if let Record::Alert(a) = r
            && a.action != Action::Log
        {
            self.0.send(serde_json::to_value(a).unwrap_or_default());
        }
    }

    fn close(&self, deadline: Instant) -> bool {
        self.0
            .close(deadline.saturating_duration_since(Instant::now()))
    }
}

/// Stop verdicts (`alerting.stop_webhook`).
pub struct StopHook(pub Webhook);

impl RecordSink for StopHook {
    fn record(&self, r: &Record) {
        if let Record::Verdict(v) = r
            && v.verdict.verdict == Decision::Stop
        {
            self.0
                .send(serde_json::json!({ "stream": v.stream, "verdict": v.verdict }));
        }
    }

    fn close(&self, deadline: Instant) -> bool {
        self.0
            .close(deadline.saturating_duration_since(Instant::now()))
    }
}

/// The sinks `settings` ask for: telemetry always, then the stop webhook (closed first, so
/// stop verdicts go out before alerts at shutdown), then the alert webhook.
pub fn standard(settings: &Settings) -> Sinks {
    let a = &settings.alerting;
    let mut v: Vec<Arc<dyn RecordSink>> = vec![Arc::new(Telemetry)];
    if let Some(url) = a.stop_webhook.as_deref() {
        v.push(Arc::new(StopHook(Webhook::start("stops", url, a))));
    }
    if let Some(url) = a.webhook.as_deref() {
        v.push(Arc::new(AlertHook(Webhook::start("alerts", url, a))));
    }
    Sinks::new(v)
}

/// A live evaluator with the standard sinks installed.
pub fn evaluator(settings: Settings, model: Model) -> Arc<Evaluator> {
    let sinks = standard(&settings);
    Evaluator::with_sinks(settings, model, sinks)
}

/// A live evaluator with the standard sinks and the run pages of its streams (what `serve` and
/// `demo` run: the pages are what the live page shows).
pub fn served(settings: Settings, model: Model) -> (Arc<Evaluator>, Arc<Pages>) {
    let pages = Arc::new(Pages::default());
    let mut sinks = standard(&settings);
    sinks.push(pages.clone());
    (Evaluator::with_sinks(settings, model, sinks), pages)
}
