//! The HTTP server's front door: connection slots, request heads read before hyper sees a
//! connection, and shedding the slowest when the slots run out.
//!
//! A slow client (a byte a second, Slowloris) holds a connection for as long as the head
//! timeout allows; a few hundred of them used to fill every slot, so Prometheus scrapes and
//! verdict requests were refused or reset. Here:
//!
//! - every connection reads its request head (up to the blank line) in a task of ours, with a
//!   deadline (`server.header_timeout_s`, then 408) and a size cap (431); only a complete head
//!   goes on to hyper, one request per connection (no idle keep-alive holds a slot);
//! - when all `server.max_connections` slots are taken, a new connection sheds a connection
//!   still sending its head: from the address with the most such connections, its oldest —
//!   so one client cannot hold the server, and a scrape (whose head arrives at once) gets in;
//! - a connection refused or shed is told so in words (503, `Connection: close`) and closed
//!   gently (our side shut, what the client still sends read and dropped for up to a second),
//!   not reset.
use bytes::{Buf, Bytes};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// How long a new connection waits for a slot a shed connection gives back.
const SLOT_WAIT: Duration = Duration::from_secs(1);
/// How long a refused connection's remaining input is read and dropped before it is closed.
const LINGER: Duration = Duration::from_secs(1);

/// An answer written by the front door itself, then the connection closed.
fn answer(status: &str, why: &str) -> Vec<u8> {
    let body = format!("{{\"error\":\"{why}\"}}");
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A connection still sending its head.
struct Pending {
    ip: IpAddr,
    since: Instant,
    shed: Option<oneshot::Sender<()>>,
}

/// The slots and the connections still sending their heads.
pub struct Front {
    slots: Arc<Semaphore>,
    pending: Mutex<(u64, HashMap<u64, Pending>)>,
    head_timeout: Duration,
    head_limit: usize,
    /// Connections shed to make room, and refused for want of one (for the tests and logs).
    pub shed: std::sync::atomic::AtomicU64,
    pub refused: std::sync::atomic::AtomicU64,
}

/// A connection with its head read: the bytes read so far come first.
pub struct Admitted {
    pub io: Rewind,
    pub permit: OwnedSemaphorePermit,
}

impl Front {
    pub fn new(slots: usize, head_timeout: Duration, head_limit: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: Arc::new(Semaphore::new(slots)),
            pending: Mutex::new((0, HashMap::new())),
            head_timeout,
            head_limit,
            shed: Default::default(),
            refused: Default::default(),
        })
    }

    /// Shed one connection still sending its head: from the address with the most of them,
    /// the oldest. Whether there was one.
    fn shed_one(&self) -> bool {
        let mut p = self.pending.lock();
        let mut per_ip: HashMap<IpAddr, usize> = HashMap::new();
        for c in p.1.values().filter(|c| c.shed.is_some()) {
            *per_ip.entry(c.ip).or_default() += 1;
        }
        let Some((&ip, _)) = per_ip.iter().max_by_key(|(_, n)| **n) else {
            return false;
        };
        let victim =
            p.1.iter()
                .filter(|(_, c)| c.ip == ip && c.shed.is_some())
                .min_by_key(|(_, c)| c.since)
                .map(|(id, _)| *id);
        let sent = victim
            .and_then(|id| p.1.get_mut(&id))
            .and_then(|c| c.shed.take())
            .is_some_and(|tx| tx.send(()).is_ok());
        if sent {
            self.shed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        sent
    }

    /// A slot for a new connection: a free one, or one a shed connection gives back.
    async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Some(p);
        }
        if !self.shed_one() {
            return None;
        }
        tokio::time::timeout(SLOT_WAIT, self.slots.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Admit `stream` from `ip`: a slot, then its request head within the deadline. `None`
    /// when it was answered and closed here (no slot, shed, too slow, too large).
    pub async fn admit(self: &Arc<Self>, mut stream: TcpStream, ip: IpAddr) -> Option<Admitted> {
        let Some(permit) = self.slot().await else {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            close_with(
                stream,
                answer(
                    "503 Service Unavailable",
                    "the server is at server.max_connections",
                ),
            )
            .await;
            return None;
        };
        let (tx, mut shed) = oneshot::channel();
        let id = {
            let mut p = self.pending.lock();
            p.0 += 1;
            let id = p.0;
            p.1.insert(
                id,
                Pending {
                    ip,
                    since: Instant::now(),
                    shed: Some(tx),
                },
            );
            id
        };
        let read = tokio::select! {
            r = tokio::time::timeout(self.head_timeout, read_head(&mut stream, self.head_limit)) => r,
            _ = &mut shed => Ok(Err(Refusal::Shed)),
        };
        self.pending.lock().1.remove(&id);
        let refusal = match read {
            Ok(Ok(head)) => {
                return Some(Admitted {
                    io: Rewind::new(head, stream),
                    permit,
                });
            }
            Ok(Err(r)) => r,
            Err(_) => Refusal::Slow,
        };
        drop(permit);
        let bytes = match refusal {
            Refusal::Closed => return None,
            Refusal::Shed => answer(
                "503 Service Unavailable",
                "the server is full and this request was the slowest to arrive",
            ),
            Refusal::Slow => answer(
                "408 Request Timeout",
                "the request head took longer than server.header_timeout_s",
            ),
            Refusal::TooLarge => answer(
                "431 Request Header Fields Too Large",
                "the request head is too large",
            ),
        };
        close_with(stream, bytes).await;
        None
    }
}

enum Refusal {
    Closed,
    Shed,
    Slow,
    TooLarge,
}

/// Read until the blank line that ends a request head (`\r\n\r\n`, or `\n\n`); what was read
/// (perhaps with some of the body after it).
async fn read_head(stream: &mut TcpStream, limit: usize) -> Result<Bytes, Refusal> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| Refusal::Closed)?;
        if n == 0 {
            return Err(Refusal::Closed);
        }
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        let tail = &buf[from..];
        let ended =
            tail.windows(4).any(|w| w == b"\r\n\r\n") || tail.windows(2).any(|w| w == b"\n\n");
        if ended {
            return Ok(Bytes::from(buf));
        }
        if buf.len() > limit {
            return Err(Refusal::TooLarge);
        }
    }
}

/// Write `bytes`, shut our side, and read what the client still sends for up to [`LINGER`]
/// before closing (closing with unread input would reset the connection, and the client
/// would never see the answer).
async fn close_with(mut stream: TcpStream, bytes: Vec<u8>) {
    let _ = tokio::time::timeout(LINGER, stream.write_all(&bytes)).await;
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(LINGER, async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// A stream with bytes already read put back in front.
pub struct Rewind {
    head: Bytes,
    inner: TcpStream,
}

impl Rewind {
    fn new(head: Bytes, inner: TcpStream) -> Self {
        Self { head, inner }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.head.has_remaining() {
            let n = self.head.remaining().min(buf.remaining());
            buf.put_slice(&self.head[..n]);
            self.head.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
