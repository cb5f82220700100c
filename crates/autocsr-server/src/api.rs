//! The staff API (JSON, bearer tokens): what the reseller's portal backend calls.

use std::time::Duration;

use autocsr::archive::ArchiveFormat;
use autocsr::credential::{self, CredentialState};
use autocsr::keygen::KeyAlgorithm;
use autocsr::policy::Severity;
use autocsr::{OrderId, OrderRequest, Settled};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::archive_store::PublishError;
use crate::link::is_url_safe_order_id;
use crate::secrets::TokenCheck;
use crate::state::{Shared, blocking, rfc3339, unix_seconds};

/// Every API error: a stable machine code and a sentence for people. Never a secret.
#[derive(Debug, Serialize, ToSchema)]
#[non_exhaustive]
pub struct ErrorBody {
    /// Stable code: `unauthorized`, `forbidden`, `invalid_request`, `policy_refused`,
    /// `not_found`, `conflict`, `expired`, `revoked`, `gone`, `payload_too_large`,
    /// `unsupported_media_type`, `too_many_requests`, `method_not_allowed`, `unavailable`,
    /// `internal`.
    pub error: String,
    /// What went wrong and what to do.
    pub message: String,
    /// The policy's findings, for `policy_refused`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<FindingBody>,
}

/// An API error response.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    findings: Vec<FindingBody>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            findings: Vec::new(),
        }
    }

    pub(crate) fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; nothing secret was returned (see the server log)",
        )
    }

    fn not_found(order_id: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("there is no order {order_id} (never created, or purged after its window)"),
        )
    }

    fn bad_order_id() -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "an order id is 1 to 128 characters from A-Z, a-z, 0-9, '-', '_', '.' and ':' (not only dots)",
        )
    }

    fn from_vault(err: &credential::Error, order_id: &str) -> Self {
        match err {
            credential::Error::NotFound => ApiError::not_found(order_id),
            credential::Error::Expired { expired_at } => ApiError::new(
                StatusCode::CONFLICT,
                "expired",
                format!(
                    "the unlock code of order {order_id} expired at {}; reissue with a new CSR",
                    rfc3339(*expired_at)
                ),
            ),
            credential::Error::Revoked => ApiError::new(
                StatusCode::CONFLICT,
                "revoked",
                format!("order {order_id} was revoked; reissue with a new CSR"),
            ),
            credential::Error::InvalidOrderId { .. } => ApiError::bad_order_id(),
            credential::Error::ShreddingIncomplete => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the code's key was deleted but is not yet gone from disk; repeat the request",
            ),
            other => {
                tracing::error!(order_id, error = %other, "vault call failed");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_owned(),
            message: self.message,
            findings: self.findings,
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"autocsr\""),
            );
        }
        response
    }
}

/// `Json` whose rejections (malformed JSON, wrong content type, a body over the limit)
/// are JSON error bodies too.
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    let status = rejection.status();
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "the request body is larger than the server accepts".to_owned(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json".to_owned(),
        ),
        _ => {
            // serde's message names the field and what was expected; cut to a line.
            let mut text = rejection.body_text();
            text.truncate(text.floor_char_boundary(300));
            ("invalid_request", text)
        }
    };
    ApiError::new(status, code, message)
}

/// Checks `Authorization: Bearer <token>`: missing or not a bearer token is 401, a token
/// that matches none in the tokens file is 403.
pub(crate) async fn require_staff(
    State(state): State<Shared>,
    req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty());
    let Some(token) = presented else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send a staff token as Authorization: Bearer <token>",
        )
        .into_response();
    };
    match state.staff_tokens.check(token) {
        TokenCheck::Accepted(line) => {
            tracing::debug!(token_line = line, "staff token accepted");
            next.run(req).await
        }
        TokenCheck::Refused => {
            tracing::warn!("a staff request with an unknown token was refused");
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this token is not in the server's staff tokens file",
            )
            .into_response()
        }
    }
}

/// Key types.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum KeyChoice {
    /// RSA 2048-bit (the default).
    Rsa2048,
    /// RSA 3072-bit.
    Rsa3072,
    /// RSA 4096-bit (seconds to generate).
    Rsa4096,
    /// ECDSA P-256.
    P256,
    /// ECDSA P-384.
    P384,
}

impl KeyChoice {
    fn algorithm(self) -> KeyAlgorithm {
        match self {
            KeyChoice::Rsa2048 => KeyAlgorithm::Rsa2048,
            KeyChoice::Rsa3072 => KeyAlgorithm::Rsa3072,
            KeyChoice::Rsa4096 => KeyAlgorithm::Rsa4096,
            KeyChoice::P256 => KeyAlgorithm::EcdsaP256,
            KeyChoice::P384 => KeyAlgorithm::EcdsaP384,
        }
    }
}

/// Archive formats.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[non_exhaustive]
pub enum FormatChoice {
    /// ZIP with WinZip AES-256 (the default).
    #[serde(rename = "zip")]
    Zip,
    /// 7z with AES-256 and encrypted headers.
    #[serde(rename = "7z")]
    SevenZ,
}

/// A new order: the same fields as `autocsr order`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CreateOrder {
    /// The primary name (first subjectAltName; the CN when at most 64 characters).
    pub domain: String,
    /// More subjectAltNames (DNS names or IP addresses).
    #[serde(default)]
    pub sans: Vec<String>,
    /// Key type (default rsa2048).
    pub key: Option<KeyChoice>,
    /// Archive format (default zip).
    pub format: Option<FormatChoice>,
    /// Subject organizationName (needs country and locality or state).
    pub org: Option<String>,
    /// Subject localityName.
    pub locality: Option<String>,
    /// Subject stateOrProvinceName.
    pub state: Option<String>,
    /// Subject countryName (two upper-case letters).
    pub country: Option<String>,
    /// How long the code can be revealed, in seconds (1 to 31,622,400; default: the
    /// server's `--reveal-window`).
    pub reveal_window_seconds: Option<u64>,
    /// The portal's own order id (1 to 128 of `A-Z a-z 0-9 - _ . :`, not only dots).
    /// Default: a fresh `ord_` id. With its own id the portal can retry safely: a repeat
    /// is refused as `conflict` and `GET /v1/orders/{id}` says what exists.
    pub order_id: Option<String>,
}

/// A policy finding.
#[derive(Debug, Serialize, ToSchema)]
#[non_exhaustive]
pub struct FindingBody {
    /// Stable id (e.g. `key.rsa.modulus_too_small`).
    pub id: String,
    /// `error`, `warning` or `notice`.
    pub severity: String,
    /// Explanation (English).
    pub message: String,
}

/// A created order. It never carries the unlock code: the customer sees that only on the
/// order page.
#[derive(Debug, Serialize, ToSchema)]
#[non_exhaustive]
pub struct OrderCreated {
    /// The order id.
    pub order_id: String,
    /// When the code stops being revealable (RFC 3339).
    pub expires_at: String,
    /// The same, in Unix seconds.
    pub expires_at_unix: u64,
    /// The staff API URL of the encrypted archive.
    pub archive_url: String,
    /// `zip` or `7z`.
    pub format: String,
    /// The key type.
    pub key: String,
    /// The CSR (PEM) for the CA.
    pub csr_pem: String,
    /// Non-refusing policy findings about the names.
    pub warnings: Vec<FindingBody>,
}

/// An order's state.
#[derive(Debug, Serialize, ToSchema)]
#[non_exhaustive]
pub struct OrderStatus {
    /// The order id.
    pub order_id: String,
    /// `available`, `expired` or `revoked`.
    pub state: String,
    /// When the order was stored (RFC 3339).
    pub created_at: String,
    /// When the reveal window closes or closed (RFC 3339).
    pub expires_at: String,
    /// The same, in Unix seconds.
    pub expires_at_unix: u64,
    /// Successful reveals so far.
    pub reveal_count: u64,
    /// Whether the server's `--max-reveals` is reached (the code is not shown again).
    pub reveal_limit_reached: bool,
    /// Whether the encrypted archive can still be downloaded.
    pub archive_available: bool,
}

impl OrderStatus {
    /// The answer for `order_id` from the vault's status: one mapping for every route.
    fn new(order_id: String, status: &credential::Status, archive_available: bool) -> Self {
        OrderStatus {
            state: state_name(status.state).to_owned(),
            created_at: rfc3339(status.created_at),
            expires_at: rfc3339(status.expires_at),
            expires_at_unix: unix_seconds(status.expires_at),
            reveal_count: status.reveal_count,
            reveal_limit_reached: status.reveal_limit_reached,
            archive_available,
            order_id,
        }
    }
}

/// A CSR to check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CsrCheckRequest {
    /// The CSR, PEM (`-----BEGIN CERTIFICATE REQUEST-----`).
    pub csr: String,
}

/// The policy's report on a CSR.
#[derive(Debug, Serialize, ToSchema)]
#[non_exhaustive]
pub struct CsrReport {
    /// True when no finding is an error.
    pub accepted: bool,
    /// The names in the CSR (CN and subjectAltNames), when it could be read.
    pub names: Vec<String>,
    /// The key, e.g. `RSA 2048`, when it could be read.
    pub key: Option<String>,
    /// Every finding.
    pub findings: Vec<FindingBody>,
}

fn severity(severity: Severity) -> String {
    severity.as_str().to_owned()
}

fn state_name(state: CredentialState) -> &'static str {
    match state {
        CredentialState::Available => "available",
        CredentialState::Expired => "expired",
        CredentialState::Revoked => "revoked",
        _ => "unknown",
    }
}

impl crate::state::AppState {
    fn archive_url(&self, order_id: &str) -> String {
        format!("{}/v1/orders/{order_id}/archive", self.public_url)
    }
}

/// Creates an order: key, CSR, sealed archive (kept until the window closes) and the code
/// in the vault. The code is not in the answer.
#[utoipa::path(
    post, path = "/v1/orders", tag = "staff",
    request_body = CreateOrder,
    security(("staff_token" = [])),
    responses(
        (status = 201, description = "Created", body = OrderCreated),
        (status = 400, description = "Unusable request", body = ErrorBody),
        (status = 401, description = "No bearer token", body = ErrorBody),
        (status = 403, description = "Unknown token", body = ErrorBody),
        (status = 409, description = "The order id exists already", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "The policy refused the names", body = ErrorBody),
        (status = 500, description = "Failed; nothing was stored", body = ErrorBody),
    )
)]
pub(crate) async fn create_order(
    State(state): State<Shared>,
    ApiJson(body): ApiJson<CreateOrder>,
) -> Result<(StatusCode, Json<OrderCreated>), ApiError> {
    let window = body
        .reveal_window_seconds
        .map_or(state.reveal_window, Duration::from_secs);
    let mut request = OrderRequest::new(body.domain)
        .with_key(body.key.unwrap_or(KeyChoice::Rsa2048).algorithm())
        .with_format(match body.format.unwrap_or(FormatChoice::Zip) {
            FormatChoice::Zip => ArchiveFormat::Zip,
            FormatChoice::SevenZ => ArchiveFormat::SevenZ,
        })
        .with_reveal_window(window);
    for san in body.sans {
        request = request.with_name(san);
    }
    if let Some(org) = body.org {
        request = request.with_organization(org);
    }
    if let Some(locality) = body.locality {
        request = request.with_locality(locality);
    }
    if let Some(st) = body.state {
        request = request.with_state_or_province(st);
    }
    if let Some(country) = body.country {
        request = request.with_country(country);
    }
    let order_id = match body.order_id {
        Some(id) if is_url_safe_order_id(&id) => id,
        Some(_) => return Err(ApiError::bad_order_id()),
        None => OrderId::generate()
            .map_err(|_| ApiError::internal())?
            .as_str()
            .to_owned(),
    };

    // Waits for a slot; the semaphore is never closed, so this does not fail.
    let _slot = state
        .order_slots
        .acquire()
        .await
        .map_err(|_| ApiError::internal())?;
    let worker = state.clone();
    let id = order_id.clone();
    let outcome = blocking(move || run_order(&worker, &id, &request)).await;
    let outcome = match outcome {
        Some(outcome) => outcome,
        None => {
            state.metrics.orders.with_label_values(&["failed"]).inc();
            return Err(ApiError::internal());
        }
    };
    let label = match &outcome {
        Ok(_) => "created",
        Err(err) if err.status == StatusCode::CONFLICT => "conflict",
        Err(err) if err.status.is_client_error() => "refused",
        Err(_) => "failed",
    };
    state.metrics.orders.with_label_values(&[label]).inc();
    let created = outcome?;
    tracing::info!(order_id = %created.order_id, key = %created.key, format = %created.format, "order created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// The order on the blocking pool: seal, write the archive, store the code (in that
/// order, so that no stored code lacks its archive), or leave nothing.
fn run_order(
    state: &crate::state::AppState,
    order_id: &str,
    request: &OrderRequest,
) -> Result<OrderCreated, ApiError> {
    let pipeline = &state.pipeline;
    // Refused before any key is made.
    match pipeline.vault().status(order_id) {
        Err(credential::Error::NotFound) => {}
        Ok(_) => return Err(conflict(order_id)),
        Err(err) => return Err(ApiError::from_vault(&err, order_id)),
    }
    tracing::debug!(order_id, "order started");
    let sealed = pipeline
        .seal_with_id(order_id, request)
        .map_err(|err| order_error(err, order_id))?;
    let staged = state.archives.stage(sealed.archive()).map_err(|err| {
        tracing::error!(order_id, error = %err, "could not write the archive");
        ApiError::internal()
    })?;
    let published = staged.publish(order_id).map_err(|err| match err {
        PublishError::Exists => conflict(order_id),
        PublishError::Io(err) => {
            tracing::error!(order_id, error = %err, "could not publish the archive");
            ApiError::internal()
        }
    })?;
    // If storing fails, dropping `published` removes the archive again, unless the vault
    // may have stored the code after all (a shared database can commit and lose the
    // answer): then a revoke settles it, and if even that cannot, the archive is kept so
    // that no live code lacks its archive (the purge's sweep deletes it once the vault
    // answers that the code is gone).
    let order = match pipeline.store(sealed) {
        Ok(order) => order,
        Err(err) => {
            return Err(match pipeline.settle_failed_store(&err, order_id) {
                Settled::NothingStored => order_error(err, order_id),
                Settled::Revoked => {
                    tracing::error!(order_id, error = %err, "the vault stored the code but its answer was lost; revoked");
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "the order failed: the vault stored the code but its answer was lost; the code is revoked and the archive removed",
                    )
                }
                Settled::Unknown => {
                    published.keep();
                    tracing::error!(order_id, error = %err, "the vault cannot say whether it stored the code; the archive is kept");
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        format!(
                            "the order failed and the vault cannot say whether it stored the code; revoke order {order_id} once the vault answers"
                        ),
                    )
                }
            });
        }
    };
    published.keep();
    let warnings = order
        .warnings()
        .iter()
        .map(|finding| FindingBody {
            id: finding.id.clone(),
            severity: severity(finding.severity),
            message: finding.message.clone(),
        })
        .collect();
    Ok(OrderCreated {
        order_id: order_id.to_owned(),
        expires_at: rfc3339(order.expires_at()),
        expires_at_unix: unix_seconds(order.expires_at()),
        archive_url: state.archive_url(order_id),
        format: order.format().extension().to_owned(),
        key: order.key().as_str().to_owned(),
        csr_pem: order.csr_pem().to_owned(),
        warnings,
    })
}

fn conflict(order_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        format!("order {order_id} exists already; a reissue is a new order with a new id"),
    )
}

fn order_error(err: autocsr::Error, order_id: &str) -> ApiError {
    match err {
        autocsr::Error::InvalidRequest(reason) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", reason)
        }
        autocsr::Error::InvalidCsrRequest(source) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the requested subject or names cannot go into a CSR: {source}"),
        ),
        autocsr::Error::PolicyRefused { findings } => ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "policy_refused",
            message: "the policy refused the requested names".to_owned(),
            findings: findings
                .into_iter()
                .map(|finding| FindingBody {
                    id: finding.id,
                    severity: severity(finding.severity),
                    message: finding.message,
                })
                .collect(),
        },
        autocsr::Error::Store(source)
            if matches!(
                source.downcast_ref::<credential::Error>(),
                Some(credential::Error::AlreadyExists)
            ) =>
        {
            conflict(order_id)
        }
        other => {
            tracing::error!(order_id, error = %other, "order failed; nothing was stored");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the order failed and nothing was stored",
            )
        }
    }
}

/// An order's state (reads only; decrypts nothing).
#[utoipa::path(
    get, path = "/v1/orders/{order_id}", tag = "staff",
    params(("order_id" = String, Path, description = "The order id")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The order's state", body = OrderStatus),
        (status = 400, description = "Malformed order id", body = ErrorBody),
        (status = 401, description = "No bearer token", body = ErrorBody),
        (status = 403, description = "Unknown token", body = ErrorBody),
        (status = 404, description = "No such order (or purged)", body = ErrorBody),
    )
)]
pub(crate) async fn get_order(
    State(state): State<Shared>,
    Path(order_id): Path<String>,
) -> Result<Json<OrderStatus>, ApiError> {
    if !is_url_safe_order_id(&order_id) {
        return Err(ApiError::bad_order_id());
    }
    let worker = state.clone();
    let id = order_id.clone();
    let (status, archive) = state
        .vault_threads
        .run(move || {
            (
                worker.pipeline.vault().status(&id),
                worker.archives.exists(&id),
            )
        })
        .await
        .ok_or_else(ApiError::internal)?;
    let status = status.map_err(|err| ApiError::from_vault(&err, &order_id))?;
    let archive_available = archive && status.state == CredentialState::Available;
    Ok(Json(OrderStatus::new(order_id, &status, archive_available)))
}

/// Revokes an order: its code is destroyed (no backup can reveal it afterwards) and its
/// archive deleted. Revoking twice is fine.
#[utoipa::path(
    post, path = "/v1/orders/{order_id}/revoke", tag = "staff",
    params(("order_id" = String, Path, description = "The order id")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Revoked", body = OrderStatus),
        (status = 401, description = "No bearer token", body = ErrorBody),
        (status = 403, description = "Unknown token", body = ErrorBody),
        (status = 404, description = "No such order (or purged)", body = ErrorBody),
        (status = 409, description = "Expired before it could be revoked", body = ErrorBody),
        (status = 503, description = "Key deletion not yet on disk; repeat", body = ErrorBody),
    )
)]
pub(crate) async fn revoke_order(
    State(state): State<Shared>,
    Path(order_id): Path<String>,
) -> Result<Json<OrderStatus>, ApiError> {
    if !is_url_safe_order_id(&order_id) {
        return Err(ApiError::bad_order_id());
    }
    let worker = state.clone();
    let id = order_id.clone();
    let outcome = state.vault_threads.run(move || {
        let vault = worker.pipeline.vault();
        vault.revoke(&id)?;
        if let Err(err) = worker.archives.remove(&id) {
            // The purge's sweep deletes it later; the code is gone already.
            tracing::warn!(order_id = %id, error = %err, "could not delete a revoked order's archive");
        }
        vault.status(&id)
    })
    .await
    .ok_or_else(ApiError::internal)?;
    let status = outcome.map_err(|err| ApiError::from_vault(&err, &order_id))?;
    tracing::info!(order_id = %order_id, "order revoked");
    Ok(Json(OrderStatus::new(order_id, &status, false)))
}

/// The encrypted archive, while the order's code can still be revealed.
#[utoipa::path(
    get, path = "/v1/orders/{order_id}/archive", tag = "staff",
    params(("order_id" = String, Path, description = "The order id")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The archive (application/zip or application/x-7z-compressed)", content_type = "application/octet-stream"),
        (status = 401, description = "No bearer token", body = ErrorBody),
        (status = 403, description = "Unknown token", body = ErrorBody),
        (status = 404, description = "No such order (or purged)", body = ErrorBody),
        (status = 410, description = "Expired or revoked: the archive is deleted", body = ErrorBody),
    )
)]
pub(crate) async fn get_archive(
    State(state): State<Shared>,
    Path(order_id): Path<String>,
) -> Result<Response, ApiError> {
    if !is_url_safe_order_id(&order_id) {
        return Err(ApiError::bad_order_id());
    }
    match archive_response(&state, &order_id).await? {
        ArchiveAnswer::File(response) => Ok(response),
        ArchiveAnswer::Gone(state) => Err(ApiError::new(
            StatusCode::GONE,
            "gone",
            format!(
                "order {order_id} is {}: its code is destroyed and the archive deleted; reissue with a new CSR",
                state_name(state)
            ),
        )),
    }
}

pub(crate) enum ArchiveAnswer {
    File(Response),
    Gone(CredentialState),
}

/// The archive of an order whose code is still available (shared with the order page).
pub(crate) async fn archive_response(
    state: &Shared,
    order_id: &str,
) -> Result<ArchiveAnswer, ApiError> {
    let worker = state.clone();
    let id = order_id.to_owned();
    let (status, file) = state
        .vault_threads
        .run(move || {
            let status = worker.pipeline.vault().status(&id);
            let file = match &status {
                Ok(status) if status.state == CredentialState::Available => {
                    worker.archives.read(&id)
                }
                _ => Ok(None),
            };
            (status, file)
        })
        .await
        .ok_or_else(ApiError::internal)?;
    let status = status.map_err(|err| ApiError::from_vault(&err, order_id))?;
    if status.state != CredentialState::Available {
        return Ok(ArchiveAnswer::Gone(status.state));
    }
    let Some((format, bytes)) = file.map_err(|err| {
        tracing::error!(order_id, error = %err, "could not read an archive");
        ApiError::internal()
    })?
    else {
        tracing::error!(order_id, "an available order has no archive file");
        return Err(ApiError::not_found(order_id));
    };
    let content_type = match format {
        ArchiveFormat::Zip => "application/zip",
        _ => "application/x-7z-compressed",
    };
    let disposition = format!("attachment; filename=\"{order_id}.{}\"", format.extension());
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(ArchiveAnswer::File(response))
}

/// The policy's report on a CSR the customer brings (nothing is stored).
#[utoipa::path(
    post, path = "/v1/csr/check", tag = "staff",
    request_body = CsrCheckRequest,
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The report (accepted or not)", body = CsrReport),
        (status = 400, description = "Unusable request", body = ErrorBody),
        (status = 401, description = "No bearer token", body = ErrorBody),
        (status = 403, description = "Unknown token", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
    )
)]
pub(crate) async fn check_csr(
    ApiJson(body): ApiJson<CsrCheckRequest>,
) -> Result<Json<CsrReport>, ApiError> {
    let report = blocking(move || csr_report(body.csr.as_bytes()))
        .await
        .ok_or_else(ApiError::internal)?;
    Ok(Json(report))
}

/// The default CSR policy's report (the API's JSON and the order page's form).
pub(crate) fn csr_report(input: &[u8]) -> CsrReport {
    let report = autocsr::policy::check_csr(input);
    CsrReport {
        accepted: report.accepted(),
        names: report
            .csr()
            .map(|csr| csr.names().to_vec())
            .unwrap_or_default(),
        key: report.csr().map(|csr| csr.public_key().to_owned()),
        findings: report
            .findings()
            .iter()
            .map(|finding| FindingBody {
                id: finding.id.to_owned(),
                severity: severity(finding.severity),
                message: finding.message.clone(),
            })
            .collect(),
    }
}

/// Unknown API routes.
pub(crate) async fn api_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such API route")
}
