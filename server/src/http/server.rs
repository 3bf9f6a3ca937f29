//! The HTTP server loop: hyper with the limits `axum::serve` does not set. A slow or idle
//! client cannot hold a connection, and no client can hold many:
//! - request headers must arrive within `header_read` (a client dribbling one header line every
//!   few seconds is cut off);
//! - a request must be answered within `request` (503 after that);
//! - at most `max_connections` connections are served at once; more wait in the listen queue;
//! - a connection is closed gracefully after `connection_lifetime` (its request in flight
//!   finishes), so keep-alive cannot pin a connection slot for ever;
//! - no request body is read past [`BODY_MAX`]; routes set smaller limits of their own.

use crate::config::HttpLimits;
use crate::http::problem::Problem;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use axum::response::IntoResponse as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// The largest request body any route reads (the notification API's limit; the others are
/// smaller, set per route).
pub const BODY_MAX: usize = 2 * 1024 * 1024;

/// Serves `app` on `listener` until `shutdown` completes, then lets the requests in flight
/// finish (up to the request timeout).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (close_tx, close_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let limits = limits.clone();
        let mut close = close_rx.clone();
        connections.spawn(async move {
            let _slot = slot;
            let request_limit = limits.request;
            let service = tower::service_fn(move |req: Request<Incoming>| {
                let app = app.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(handle(app, req, peer, request_limit).await)
                }
            });
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read);
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(Some(limits.header_read))
                .keep_alive_timeout(limits.header_read);
            let conn = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service),
            );
            tokio::pin!(conn);
            let lifetime = tokio::time::sleep(limits.connection_lifetime);
            tokio::pin!(lifetime);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = close.changed() => {}
                () = &mut lifetime => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(request_limit, conn.as_mut()).await;
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = close_tx.send(true);
    let _ = tokio::time::timeout(limits.request, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}

/// One request: the caller's address for the handlers, the body cap, the time limit.
async fn handle(
    app: Router,
    req: Request<Incoming>,
    peer: SocketAddr,
    limit: Duration,
) -> Response<Body> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_MAX as u64) {
        return closing(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("The request body is larger than {BODY_MAX} bytes; nothing was done."),
        ));
    }
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    let body = Body::new(http_body_util::Limited::new(body, BODY_MAX));
    let req = Request::from_parts(parts, body);
    match tokio::time::timeout(limit, app.oneshot(req)).await {
        // A body refused by a route's limit was not read to its end: the connection cannot
        // carry another request, and the client must know before it reuses it.
        Ok(Ok(mut res)) if res.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            res.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            res
        }
        Ok(Ok(res)) => res,
        Ok(Err(never)) => match never {},
        Err(_) => {
            tracing::warn!(%peer, "request timed out");
            closing(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "request_timeout",
                "The request took too long and was stopped. Try again; a request must arrive \
                 and be answered within the server's request time limit.",
            ))
        }
    }
}

/// An error answer after which the connection is closed.
fn closing(problem: Problem) -> Response<Body> {
    let mut res = problem.into_response();
    res.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    res
}
