//! The router: routes, the security headers every answer carries, the body limit, and
//! the request log (method, route template, status, latency; never the URL's query,
//! which holds link signatures, nor any header).

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::api::{self, ApiError};
use crate::openapi;
use crate::page;
use crate::state::Shared;

/// The Content-Security-Policy of every answer: only this server's own files, no inline
/// script or style, no framing, forms only to this server.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE_CSS: &str = include_str!("../static/style.css");
const COPY_JS: &str = include_str!("../static/copy.js");

pub(crate) fn router(state: Shared, max_body_bytes: usize) -> Router {
    let staff = Router::new()
        .route("/v1/orders", post(api::create_order))
        .route("/v1/orders/{order_id}", get(api::get_order))
        .route("/v1/orders/{order_id}/revoke", post(api::revoke_order))
        .route("/v1/orders/{order_id}/archive", get(api::get_archive))
        .route("/v1/csr/check", post(api::check_csr))
        .route("/v1/{*rest}", axum::routing::any(api::api_not_found))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            api::require_staff,
        ))
        .method_not_allowed_fallback(api_method_not_allowed);
    let public = Router::new()
        .route("/o/{order_id}", get(page::order_page))
        .route("/o/{order_id}/reveal", post(page::reveal))
        .route("/o/{order_id}/archive", get(page::archive))
        .route("/o/{order_id}/check-csr", post(page::check_csr))
        .route("/static/style.css", get(style_css))
        .route("/static/copy.js", get(copy_js))
        .route("/openapi.json", get(openapi_document))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .method_not_allowed_fallback(api_method_not_allowed)
        .fallback(page::not_found);

    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    staff
        .merge(public)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            log_and_measure,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal().into_response()
        }))
        // Static files set their own caching; everything else is never stored.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(header(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(header(header::REFERRER_POLICY, "no-referrer"))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        .layer(header(
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ))
        .with_state(state)
}

async fn api_method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

async fn log_and_measure(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |path| path.as_str())
        .to_owned();
    let response = next.run(req).await;
    let elapsed = started.elapsed();
    let status = response.status();
    state
        .metrics
        .requests
        .with_label_values(&[route.as_str(), method.as_str(), status.as_str()])
        .observe(elapsed.as_secs_f64());
    tracing::info!(
        method = %method,
        route = %route,
        status = status.as_u16(),
        micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    response
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn style_css() -> Response {
    static_file("text/css; charset=utf-8", STYLE_CSS)
}

async fn copy_js() -> Response {
    static_file("text/javascript; charset=utf-8", COPY_JS)
}

async fn openapi_document() -> Response {
    match openapi::openapi_json() {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(_) => ApiError::internal().into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the vault answers (a status read) and the archive directory can be listed.
async fn readyz(State(state): State<Shared>) -> Response {
    let worker = state.clone();
    let ready = state
        .vault_threads
        .run(move || {
            // Any answer about the order (it may even exist: the id is a valid order id) means
            // the vault's stores answer; only an error reading them is "not ready".
            let vault = matches!(
                worker.pipeline.vault().status("autocsr-readiness-probe"),
                Ok(_) | Err(autocsr::credential::Error::NotFound)
            );
            vault && std::fs::read_dir(worker.archives.dir()).is_ok()
        })
        .await
        .unwrap_or(false);
    if ready {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the vault or the archive directory does not answer",
        )
        .into_response()
    }
}

async fn metrics(State(state): State<Shared>) -> Response {
    match state.metrics.render() {
        Ok(body) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response(),
        Err(_) => ApiError::internal().into_response(),
    }
}
