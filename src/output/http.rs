//! HTTP: Prometheus `/metrics`, the stream API and live records over server-sent events.
//!
//! | method | path | what | token (when one is set) |
//! |---|---|---|---|
//! | GET | `/metrics` | Prometheus exposition | only if `server.open_metrics = false` |
//! | GET | `/healthz` | `ok` | never |
//! | GET | `/v1/streams` | streams with state, counters and settings | yes |
//! | POST | `/v1/streams` | add a stream (JSON, same fields as a `[[streams]]` table) | yes |
//! | DELETE | `/v1/streams/{id}` | stop and remove a stream, or a reaped stream's final record (its series leave the recorder) | yes |
//! | GET | `/v1/streams/{id}` | one stream | yes |
//! | GET | `/v1/streams/{id}/verdict` | early-stop verdict: `continue` or `stop`, with reasons | yes |
//! | GET | `/v1/streams/{id}/page` | the run page of one stream, drawn from its recent records (an HTML fragment; `?span=S` seconds, default 300) | yes |
//! | GET | `/v1/events` | server-sent events: every record as JSON (`?stream=ID` filters) | yes |
//! | GET | `/streams/{id}` | live page of one stream (HTML; it fetches the page row above with the token from its `#token=` fragment) | never (holds no data) |
//!
//! Safe to expose (README, "Reliability and security"), checked in this order:
//! 1. on a loopback bind the `Host` header must name the loopback (DNS rebinding), and an
//!    `Origin` header must be the server's own or in `server.allowed_origins` — else 403;
//! 2. the token, `Authorization: Bearer TOKEN`, compared in constant time — else 401;
//! 3. `POST` needs `Content-Type: application/json` (a browser cannot send that cross-site
//!    without a preflight, which is never answered) — else 415;
//! 4. a stream definition names files or URIs only as `server.api_sources` allows — else 403;
//!    its numbers are range-checked with the field named — else 400.
//!
//! The server is our own accept loop over hyper's HTTP/1 (see [`super::admission`]): a cap on
//! open connections (`server.max_connections`; when it is reached, the slowest connection
//! still sending its request head is shed, from the address holding the most, and a
//! connection that finds no room is answered 503 and closed gently), request heads read with
//! a deadline (`server.header_timeout_s`, 408) before hyper sees them, one request per
//! connection, a request timeout (`server.request_timeout_s`, 408) and a cap on event-stream
//! clients (`server.max_event_clients`, 503).
use crate::config::{ApiSources, StreamSettings};
use crate::evaluator::{AddError, Evaluator};
use crate::output::run_page::{Frame, Pages, RunView, render};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// Largest request body accepted (a stream definition is a few hundred bytes).
pub const BODY_LIMIT: usize = 16 * 1024;
/// Largest request head (request line and headers) read before the connection is closed.
pub const HEAD_LIMIT: usize = 64 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    evaluator: Arc<Evaluator>,
    metrics: Option<crate::output::telemetry::Handle>,
    token: Option<Arc<str>>,
    event_clients: Arc<Semaphore>,
    pages: Option<Arc<Pages>>,
}

impl AppState {
    /// `token`: when set, every `/v1/` endpoint (and `/metrics` unless `server.open_metrics`)
    /// needs `Authorization: Bearer TOKEN`.
    pub fn new(
        evaluator: Arc<Evaluator>,
        metrics: Option<crate::output::telemetry::Handle>,
        token: Option<String>,
    ) -> Self {
        let clients = evaluator.settings().server.max_event_clients;
        Self {
            evaluator,
            metrics,
            token: token.map(Arc::from),
            event_clients: Arc::new(Semaphore::new(clients)),
            pages: None,
        }
    }

    /// Serve the run pages `pages` keeps (a sink installed on the same evaluator).
    pub fn with_pages(mut self, pages: Arc<Pages>) -> Self {
        self.pages = Some(pages);
        self
    }
}

/// Whether `serve` on `addr` needs a token: any address but the loopback does.
pub fn needs_token(addr: &SocketAddr) -> bool {
    !addr.ip().is_loopback()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// The access rules of one bound server.
struct Guard {
    token: Option<Arc<str>>,
    open_metrics: bool,
    /// On a loopback bind: host names accepted in `Host` besides `localhost` and loopback IPs.
    loopback_hosts: Option<Vec<String>>,
    allowed_origins: Vec<String>,
    request_timeout: Duration,
}

/// The host of a `Host` value or URI authority (`name`, `name:port`, `[v6]`, `[v6]:port`),
/// without port and brackets; `None` when it is not of that shape.
fn host_of(value: &str) -> Option<&str> {
    let port_ok = |p: &str| p.parse::<u16>().is_ok();
    if let Some(rest) = value.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => Some(host),
            _ => after.strip_prefix(':').filter(|p| port_ok(p)).map(|_| host),
        }
    } else {
        match value.split_once(':') {
            Some((host, port)) => port_ok(port).then_some(host),
            None => Some(value),
        }
    }
}

impl Guard {
    fn host_ok(&self, value: &str) -> bool {
        let Some(allowed) = &self.loopback_hosts else {
            return true;
        };
        let Some(host) = host_of(value) else {
            return false;
        };
        let host = host.strip_suffix('.').unwrap_or(host);
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
            || allowed
                .iter()
                .any(|a| a.trim_matches(['[', ']']).eq_ignore_ascii_case(host))
    }

    fn origin_ok(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim_end_matches('/');
        host.is_some_and(|h| {
            origin
                .strip_prefix("http://")
                .is_some_and(|o| o.eq_ignore_ascii_case(h))
        }) || self
            .allowed_origins
            .iter()
            .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        // Constant time in the content (the length of a wrong token may show).
        given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(token.as_bytes())))
    }

    /// The answer to a request that breaks a rule (the first one it breaks); `None` when it
    /// may pass.
    fn refusal(&self, req: &Request) -> Option<Response> {
        let headers = req.headers();
        // More than one Host is ambiguous (a proxy and we could read different ones).
        if headers.get_all(header::HOST).iter().count() > 1 {
            return Some(error(StatusCode::BAD_REQUEST, "more than one Host header"));
        }
        let host = match headers.get(header::HOST).map(|v| v.to_str()) {
            Some(Ok(h)) => Some(h),
            Some(Err(_)) => return Some(error(StatusCode::FORBIDDEN, "unreadable Host header")),
            None => None,
        };
        let authority = req.uri().authority().map(|a| a.as_str());
        // On a loopback bind the host is what tells a browser's request from a rebound name:
        // a request must say which host it is for.
        if self.loopback_hosts.is_some() && host.is_none() && authority.is_none() {
            return Some(error(
                StatusCode::BAD_REQUEST,
                "a Host header is required (this server answers to localhost only)",
            ));
        }
        if [host, authority]
            .into_iter()
            .flatten()
            .any(|h| !self.host_ok(h))
        {
            return Some(error(
                StatusCode::FORBIDDEN,
                "this server answers to localhost only; add the host name to server.allowed_hosts to use another",
            ));
        }
        if let Some(origin) = headers.get(header::ORIGIN)
            && !origin
                .to_str()
                .is_ok_and(|o| self.origin_ok(o, host.or(authority)))
        {
            return Some(error(
                StatusCode::FORBIDDEN,
                "cross-site request refused; list the origin in server.allowed_origins to allow it",
            ));
        }
        let path = req.uri().path();
        let open = path == "/healthz"
            || (path == "/metrics" && self.open_metrics)
            || path.starts_with("/streams/");
        if !open && !self.authorised(headers) {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "this endpoint needs Authorization: Bearer <token>",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return Some(r);
        }
        if matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH) && !is_json(headers)
        {
            return Some(error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as Content-Type: application/json",
            ));
        }
        None
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

async fn guard(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    if let Some(r) = g.refusal(&req) {
        return r;
    }
    match tokio::time::timeout(g.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            let mut r = error(
                StatusCode::REQUEST_TIMEOUT,
                "the request took longer than server.request_timeout_s",
            );
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
    }
}

/// A stream definition from an API client: parsed, range-checked, and admitted against what
/// `sources` allows. The error is the status to answer and a message naming the field; it
/// quotes nothing but the client's own input.
pub fn parse_definition(
    body: &[u8],
    sources: &ApiSources,
) -> Result<StreamSettings, (StatusCode, String)> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let def: StreamSettings = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let at = e.path().to_string();
        let why = e.into_inner();
        let message = if at == "." {
            format!("malformed stream definition: {why}")
        } else {
            format!("malformed stream definition at `{at}`: {why}")
        };
        (StatusCode::BAD_REQUEST, message)
    })?;
    de.end().map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("malformed stream definition: {e}"),
        )
    })?;
    def.validate()
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    sources
        .admit(def)
        .map_err(|e| (StatusCode::FORBIDDEN, e.to_string()))
}

async fn metrics(State(s): State<AppState>) -> Response {
    match &s.metrics {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            crate::output::telemetry::render(h),
        )
            .into_response(),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed",
        ),
    }
}

async fn list(State(s): State<AppState>) -> Response {
    axum::Json(json!({ "streams": s.evaluator.streams() })).into_response()
}

async fn one(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    match s.evaluator.stream(&id) {
        Some(i) => axum::Json(i).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no stream {id:?}")),
    }
}

async fn verdict(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    match s.evaluator.stream(&id) {
        Some(i) => axum::Json(json!({ "stream": id, "state": i.state, "verdict": i.verdict.verdict, "reasons": i.verdict.reasons, "firing": i.verdict.firing })).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no stream {id:?}")),
    }
}

async fn add(State(s): State<AppState>, body: axum::body::Bytes) -> Response {
    let ev = s.evaluator.clone();
    // Admission resolves paths on the file system: off the async workers, like starting the
    // pipeline.
    let added = tokio::task::spawn_blocking(move || {
        let def = parse_definition(&body, &ev.settings().server.api_sources)?;
        let name = def.name.clone();
        ev.add_stream(def).map(|()| name).map_err(|e| {
            let status = match e {
                AddError::Exists(_) | AddError::PortClash { .. } | AddError::PortTaken { .. } => {
                    StatusCode::CONFLICT
                }
                AddError::Full(_) => StatusCode::TOO_MANY_REQUESTS,
                AddError::Invalid(_) => StatusCode::BAD_REQUEST,
            };
            (status, e.to_string())
        })
    })
    .await;
    match added {
        Ok(Ok(name)) => (StatusCode::CREATED, axum::Json(json!({ "added": name }))).into_response(),
        Ok(Err((status, message))) => error(status, message),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn remove(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let ev = s.evaluator.clone();
    let name = id.clone();
    match tokio::task::spawn_blocking(move || ev.remove_stream(&name)).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no stream {id:?}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn events(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    // The permit lives as long as the response stream: a client that goes away frees it.
    let Ok(permit) = s.event_clients.clone().try_acquire_owned() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many event-stream clients (server.max_event_clients)",
        );
    };
    let filter = q.get("stream").cloned();
    let stream = s.evaluator.records().filter_map(move |r| {
        let filter = filter.clone();
        let _held = &permit;
        async move {
            let r = r.ok()?;
            if filter.as_deref().map(|f| f != r.stream()).unwrap_or(false) {
                return None;
            }
            Some(Ok::<_, std::convert::Infallible>(
                Event::default().data(r.to_json()),
            ))
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The run page of stream `id` over its last `?span=` seconds (default 300): an HTML fragment
/// for the live page to show.
async fn run_page(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(pages) = &s.pages else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server keeps no run pages",
        );
    };
    let span = q
        .get("span")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .unwrap_or(300.0);
    let now = s.evaluator.stream(&id).map(|i| {
        let state = match i.message.as_str() {
            "" => i.state.as_str().to_string(),
            m => format!("{}: {m}", i.state.as_str()),
        };
        (i.verdict, state)
    });
    let running = now.is_some();
    let html = match pages.render(&id, span, now.clone()) {
        Some(h) => h,
        // A stream that has sent nothing yet: its name, state and verdict.
        None if running => render(&RunView::named(&id), &Frame::Live { span_s: span, now }),
        None => return error(StatusCode::NOT_FOUND, format!("no stream {id:?}")),
    };
    html_response(html)
}

/// HTML that is never cached nor sniffed as anything else.
fn html_response(html: String) -> Response {
    let mut r = html.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// The live page: no data in it, a policy that lets it talk to this origin only.
async fn live_page(Path(id): Path<String>) -> Response {
    static POLICY: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(super::live::content_security_policy);
    let mut r = html_response(super::live::live_page(&id));
    if let Ok(v) = HeaderValue::from_str(&POLICY) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

/// The routes with their access rules, for a server bound to `local`.
pub fn router(state: AppState, local: SocketAddr) -> Router {
    let server = &state.evaluator.settings().server;
    let guard_state = Arc::new(Guard {
        token: state.token.clone(),
        open_metrics: server.open_metrics,
        loopback_hosts: local
            .ip()
            .is_loopback()
            .then(|| server.allowed_hosts.clone()),
        allowed_origins: server.allowed_origins.clone(),
        request_timeout: Duration::from_secs_f64(server.request_timeout_s),
    });
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/streams", get(list).post(add))
        .route("/v1/streams/{id}", get(one).delete(remove))
        .route("/v1/streams/{id}/verdict", get(verdict))
        .route("/v1/streams/{id}/page", get(run_page))
        .route("/v1/events", get(events))
        .route("/streams/{id}", get(live_page))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
        .layer(middleware::from_fn_with_state(guard_state, guard))
}

/// Serve until `shutdown` resolves. Limits and access rules come from the evaluator's
/// `[server]` settings; connections come in through [`super::admission::Front`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let server = state.evaluator.settings().server.clone();
    let app = router(state, local);
    let head_timeout = Duration::from_secs_f64(server.header_timeout_s);
    let front = super::admission::Front::new(server.max_connections, head_timeout, HEAD_LIMIT);
    let mut http = hyper::server::conn::http1::Builder::new();
    // The head is read by the front door; hyper gets one request per connection, so that no
    // idle keep-alive connection holds a slot. Without a timer hyper's timeouts are off.
    http.timer(TokioTimer::new())
        .header_read_timeout(head_timeout)
        .keep_alive(false)
        .max_buf_size(HEAD_LIMIT);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!("HTTP accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (front, http, app) = (front.clone(), http.clone(), app.clone());
        tokio::spawn(async move {
            let Some(admitted) = front.admit(stream, peer.ip()).await else {
                return;
            };
            let conn =
                http.serve_connection(TokioIo::new(admitted.io), TowerToHyperService::new(app));
            let _ = conn.await;
            drop(admitted.permit);
        });
    }
}
