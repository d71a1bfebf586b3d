//! Webhook delivery: JSON POSTs with bounded retries and exponential backoff, on a thread of
//! its own, fed through a bounded queue. Evaluation never waits for a webhook: when the queue
//! is full the delivery is dropped and counted.
use crate::config::AlertingSettings;
use crossbeam::channel::{Sender, TrySendError, bounded};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const DELIVERIES: &str = "evalverse_webhook_deliveries_total";

/// A webhook sender. Cloning shares the queue.
#[derive(Clone)]
pub struct Webhooks {
    tx: Sender<(String, serde_json::Value)>,
    pub dropped: Arc<AtomicU64>,
}

impl Webhooks {
    /// Start the delivery thread.
    pub fn start(settings: &AlertingSettings) -> Self {
        let (tx, rx) = bounded::<(String, serde_json::Value)>(256);
        let retries = settings.retries.max(1);
        let timeout = Duration::from_secs_f64(settings.timeout_s);
        std::thread::Builder::new()
            .name("webhooks".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                let Ok(client) = reqwest::Client::builder().timeout(timeout).build() else {
                    return;
                };
                while let Ok((url, body)) = rx.recv() {
                    let outcome = rt.block_on(async {
                        for attempt in 0..retries {
                            if attempt > 0 {
                                tokio::time::sleep(Duration::from_millis(500 << (attempt - 1)))
                                    .await;
                            }
                            match client.post(&url).json(&body).send().await {
                                Ok(r) if r.status().is_success() => return "delivered",
                                Ok(r) if r.status().is_client_error() => return "rejected",
                                Ok(r) => tracing::warn!(
                                    "webhook {url}: HTTP {} (attempt {})",
                                    r.status(),
                                    attempt + 1
                                ),
                                Err(e) => {
                                    tracing::warn!("webhook {url}: {e} (attempt {})", attempt + 1)
                                }
                            }
                        }
                        "failed"
                    });
                    metrics::counter!(DELIVERIES, "outcome" => outcome).increment(1);
                }
            })
            .expect("spawning a thread");
        Self {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Queue a POST; never blocks.
    pub fn send(&self, url: &str, body: serde_json::Value) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send((url.to_string(), body)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(DELIVERIES, "outcome" => "dropped").increment(1);
        }
    }
}
