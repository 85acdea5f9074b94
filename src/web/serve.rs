//! Accepting and serving the web's connections: a deadline for each request's head, and
//! `/healthz` and `/metrics` served even when page clients hold every ordinary slot.
//!
//! `axum::serve` offers neither: it sets no timer, so hyper's header read timeout never
//! runs, and the listener's idle timeout restarts at every byte, so a client sending a byte
//! every 20 s held its slot forever and 70 of them took all of them. Here hyper's HTTP/1
//! server runs with a timer and [`HEAD_DEADLINE`]: a request line and headers that have not
//! all arrived by then close the connection (the clock starts when hyper waits for a head,
//! so an idle keep-alive connection is closed after it too).
//!
//! The listener keeps [`RESERVED`] slots beyond its limit ([`Bounded::with_reserve`]). A
//! connection in one is served only `/healthz` and `/metrics`; anything else gets a 503 at
//! once, so a page client never keeps a reserved slot past its head, and a probe never
//! queues behind page clients, however slow they are.

use std::time::Duration;

use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::listen::Bounded;

/// The whole request line and headers must arrive within this time of hyper asking for them.
pub(super) const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// Slots kept for `/healthz` and `/metrics` when the ordinary ones are all taken.
pub(super) const RESERVED: usize = 8;
/// What a reserved slot serves.
const ALWAYS_SERVED: [&str; 2] = ["/healthz", "/metrics"];

/// Serves `app` on `listener` until `stop` is cancelled; then every connection finishes the
/// request it is on and closes.
pub(super) async fn run(mut listener: Bounded<TcpListener>, app: Router, stop: CancellationToken) {
    loop {
        let (conn, addr) = tokio::select! {
            c = axum::serve::Listener::accept(&mut listener) => c,
            _ = stop.cancelled() => return,
        };
        let reserved = conn.reserved();
        let app = TowerToHyperService::new(app.clone());
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let refused = reserved && !ALWAYS_SERVED.contains(&req.uri().path());
            let page = (!refused).then(|| app.call(req));
            async move {
                match page {
                    Some(page) => page.await,
                    None => Ok(busy()),
                }
            }
        });
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(HEAD_DEADLINE);
            let conn = http.serve_connection(TokioIo::new(conn), service);
            tokio::pin!(conn);
            let done = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = done {
                debug!(%addr, reserved, error = %e, "web connection ended");
            }
        });
    }
}

/// The answer to a page asked for in a reserved slot.
fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::RETRY_AFTER, "1"),
            (header::CONNECTION, "close"),
        ],
        "every page slot is taken; try again shortly (/healthz and /metrics are still served)\n",
    )
        .into_response()
}
