//! Webhook delivery: JSON POSTs with bounded retries and exponential backoff, each destination
//! on a thread of its own, fed through its own bounded queue. Evaluation never waits for a
//! webhook: when a queue is full the delivery is dropped and counted. A destination that fails
//! (times out, refuses) delays only its own queue: the evaluator keeps alerts and stop verdicts
//! apart, so a stop verdict is never queued behind failing alert deliveries.
//!
//! [`Webhook::close`] flushes what is queued within a bounded time (shutdown): deliveries still
//! waiting at the deadline are abandoned and counted as `dropped`.
use crate::config::AlertingSettings;
use crossbeam::channel::{Receiver, Sender, TrySendError, bounded};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const DELIVERIES: &str = crate::metric_names::WEBHOOK_DELIVERIES;

/// Deliveries queued per destination.
const QUEUE: usize = 256;

/// One destination: a queue and the thread that POSTs from it.
pub struct Webhook {
    name: String,
    url: String,
    tx: Mutex<Option<Sender<serde_json::Value>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Set by [`close`](Self::close): nothing is attempted after it ...
    deadline: Arc<Mutex<Option<Instant>>>,
    /// ... and an attempt in flight is cut at it.
    closing: Arc<tokio::sync::Notify>,
    pub dropped: Arc<AtomicU64>,
    /// Deliveries given up at the close deadline.
    abandoned: Arc<AtomicU64>,
}

impl Webhook {
    /// Start the delivery thread for `url` (`name` names the thread: `webhook-NAME`).
    pub fn start(name: &str, url: &str, settings: &AlertingSettings) -> Self {
        let (tx, rx) = bounded::<serde_json::Value>(QUEUE);
        let deadline = Arc::new(Mutex::new(None));
        let closing = Arc::new(tokio::sync::Notify::new());
        let dropped = Arc::new(AtomicU64::new(0));
        let abandoned = Arc::new(AtomicU64::new(0));
        let thread = {
            let (url, deadline, dropped) = (url.to_string(), deadline.clone(), dropped.clone());
            let (closing, abandoned) = (closing.clone(), abandoned.clone());
            let retries = settings.retries.max(1);
            let timeout = Duration::from_secs_f64(settings.timeout_s);
            std::thread::Builder::new()
                .name(format!("webhook-{name}"))
                .spawn({
                    let queue = name.to_string();
                    move || {
                        let d = Delivery {
                            queue: &queue,
                            url: &url,
                            retries,
                            timeout,
                            deadline: &deadline,
                            closing: &closing,
                            dropped: &dropped,
                            abandoned: &abandoned,
                        };
                        d.run(&rx)
                    }
                })
                .expect("spawning a thread")
        };
        Self {
            name: name.to_string(),
            url: url.to_string(),
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            deadline,
            closing,
            dropped,
            abandoned,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Queue a POST; never blocks. After [`close`](Self::close) it is dropped and counted.
    pub fn send(&self, body: serde_json::Value) {
        let sent = match self.tx.lock().as_ref() {
            Some(tx) => match tx.try_send(body) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        if !sent {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(DELIVERIES, "queue" => self.name.clone(), "outcome" => "dropped")
                .increment(1);
        }
    }

    /// Deliver what is queued, for at most `grace`, then stop the thread. Returns whether
    /// nothing was given up (every queued delivery was attempted to the end and the thread
    /// ended in time). Later calls return at once.
    pub fn close(&self, grace: Duration) -> bool {
        let until = Instant::now() + grace;
        *self.deadline.lock() = Some(until);
        self.closing.notify_one();
        // Disconnects the queue: the thread ends once it is empty.
        drop(self.tx.lock().take());
        let Some(t) = self.thread.lock().take() else {
            return true;
        };
        // An attempt in flight is cut at the deadline.
        let wait_until = until + Duration::from_millis(500);
        while !t.is_finished() && Instant::now() < wait_until {
            std::thread::sleep(Duration::from_millis(10));
        }
        if t.is_finished() {
            let _ = t.join();
            self.abandoned.load(Ordering::Relaxed) == 0
        } else {
            tracing::warn!("webhook {}: still delivering at shutdown", self.url);
            false
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.close(Duration::ZERO);
    }
}

/// The delivery thread of one destination.
struct Delivery<'a> {
    queue: &'a str,
    url: &'a str,
    retries: u32,
    timeout: Duration,
    deadline: &'a Mutex<Option<Instant>>,
    closing: &'a tokio::sync::Notify,
    dropped: &'a AtomicU64,
    abandoned: &'a AtomicU64,
}

impl Delivery<'_> {
    /// Time left before the close deadline (`None`: not closing).
    fn left(&self) -> Option<Duration> {
        (*self.deadline.lock()).map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// A delivery given up at the close deadline (counted as failed).
    fn abandon(&self) -> &'static str {
        self.abandoned.fetch_add(1, Ordering::Relaxed);
        "failed"
    }

    fn count(&self, outcome: &'static str) {
        metrics::counter!(DELIVERIES, "queue" => self.queue.to_string(), "outcome" => outcome)
            .increment(1);
    }

    fn run(&self, rx: &Receiver<serde_json::Value>) {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let Ok(client) = reqwest::Client::builder().timeout(self.timeout).build() else {
            return;
        };
        while let Ok(body) = rx.recv() {
            if self.left().is_some_and(|l| l.is_zero()) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.abandoned.fetch_add(1, Ordering::Relaxed);
                self.count("dropped");
                continue;
            }
            let outcome = rt.block_on(self.post(&client, &body));
            self.count(outcome);
        }
    }

    async fn post(&self, client: &reqwest::Client, body: &serde_json::Value) -> &'static str {
        // Resolves at the close deadline (once close has been called).
        let cut = async {
            self.closing.notified().await;
            let deadline = *self.deadline.lock();
            if let Some(d) = deadline {
                tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await;
            }
        };
        tokio::pin!(cut);
        let url = self.url;
        for attempt in 0..self.retries {
            if attempt > 0 {
                let backoff = Duration::from_millis(500 << (attempt - 1).min(6));
                if self.left().is_some_and(|l| l <= backoff) {
                    return self.abandon();
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {},
                    () = &mut cut => return self.abandon(),
                }
            }
            let limit = self.left().map_or(self.timeout, |l| l.min(self.timeout));
            if limit.is_zero() {
                return self.abandon();
            }
            let sent = tokio::select! {
                r = tokio::time::timeout(limit, client.post(url).json(body).send()) => r,
                () = &mut cut => return self.abandon(),
            };
            match sent {
                Ok(Ok(r)) if r.status().is_success() => return "delivered",
                Ok(Ok(r)) if r.status().is_client_error() => return "rejected",
                Ok(Ok(r)) => tracing::warn!(
                    "webhook {url}: HTTP {} (attempt {})",
                    r.status(),
                    attempt + 1
                ),
                Ok(Err(e)) => tracing::warn!("webhook {url}: {e} (attempt {})", attempt + 1),
                Err(_) => tracing::warn!("webhook {url}: timed out (attempt {})", attempt + 1),
            }
        }
        "failed"
    }
}
