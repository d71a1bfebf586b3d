//! HTTP: Prometheus `/metrics`, the stream API and live records over server-sent events.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/metrics` | Prometheus exposition |
//! | GET | `/healthz` | `ok` |
//! | GET | `/v1/streams` | streams with state and counters |
//! | POST | `/v1/streams` | add a stream (JSON, same fields as a `[[streams]]` table) |
//! | DELETE | `/v1/streams/{id}` | stop and remove a stream (its series leave `/metrics`) |
//! | GET | `/v1/streams/{id}` | one stream |
//! | GET | `/v1/streams/{id}/verdict` | early-stop verdict: `continue` or `stop`, with reasons |
//! | GET | `/v1/events` | server-sent events: every record as JSON (`?stream=ID` filters) |
//!
//! Mutating endpoints require `Authorization: Bearer TOKEN` when a token is configured.
use crate::config::StreamSettings;
use crate::evaluator::{AddError, Evaluator};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// Largest request body accepted (a stream definition is a few hundred bytes).
pub const BODY_LIMIT: usize = 16 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub evaluator: Arc<Evaluator>,
    pub metrics: Option<PrometheusHandle>,
    pub token: Option<String>,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

fn authorised(state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    let Some(token) = &state.token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given == Some(token.as_str()) {
        Ok(())
    } else {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "this endpoint needs Authorization: Bearer <token>",
        ))
    }
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

async fn add(State(s): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Err(r) = authorised(&s, &headers) {
        return r;
    }
    let def: StreamSettings = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("malformed stream definition: {e}"),
            );
        }
    };
    let name = def.name.clone();
    crate::output::telemetry::remember_stream(&name);
    let ev = s.evaluator.clone();
    match tokio::task::spawn_blocking(move || ev.add_stream(def)).await {
        Ok(Ok(())) => (StatusCode::CREATED, axum::Json(json!({ "added": name }))).into_response(),
        Ok(Err(e @ AddError::Exists(_))) | Ok(Err(e @ AddError::PortClash { .. })) => {
            error(StatusCode::CONFLICT, e.to_string())
        }
        Ok(Err(e @ AddError::Full(_))) => error(StatusCode::TOO_MANY_REQUESTS, e.to_string()),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn remove(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = authorised(&s, &headers) {
        return r;
    }
    let ev = s.evaluator.clone();
    let name = id.clone();
    match tokio::task::spawn_blocking(move || ev.remove_stream(&name)).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no stream {id:?}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn events(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    let filter = q.get("stream").cloned();
    let stream = s.evaluator.records().filter_map(move |r| {
        let filter = filter.clone();
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
    Sse::new(stream).keep_alive(KeepAlive::default())
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/streams", get(list).post(add))
        .route("/v1/streams/{id}", get(one).delete(remove))
        .route("/v1/streams/{id}/verdict", get(verdict))
        .route("/v1/events", get(events))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serve until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
