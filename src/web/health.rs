//! `GET /metrics` (the [`Metrics`](crate::metrics::Metrics) exposition) and `GET /healthz`
//! (200 while the scheduling loop turns and every source polls and the heartbeat
//! pings on time, else 503 with a one-line reason).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use super::WebState;
use crate::metrics::CONTENT_TYPE;

pub(super) async fn metrics(State(s): State<WebState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], s.metrics.render())
}

pub(super) async fn healthz(State(s): State<WebState>) -> impl IntoResponse {
    match s.metrics.health() {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    }
}
