//! `GET /metrics` (the [`Metrics`](crate::metrics::Metrics) exposition) and `GET /healthz`
//! (200 while the scheduling loop's heartbeat is recent, else 503).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use super::WebState;
use crate::metrics::CONTENT_TYPE;

pub(super) async fn metrics(State(s): State<WebState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], s.metrics.render())
}

pub(super) async fn healthz(State(s): State<WebState>) -> impl IntoResponse {
    if s.metrics.healthy() {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the scheduling loop has stalled\n",
        )
    }
}
