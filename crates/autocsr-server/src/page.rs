//! The customer's order page, reached through a link the portal signs.
//!
//! GET never reveals anything: link-preview bots and mail scanners that fetch the page or
//! the archive URL see the order's state and an encrypted file, and no reveal is counted.
//! The code is shown only in the answer to the "Show unlock code" form's POST, which must
//! carry the signed link's fields and the form token this server put on the page.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use autocsr::credential::{self, CredentialState};
use autocsr::secrecy::ExposeSecret as _;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::api::{ArchiveAnswer, archive_response, csr_report};
use crate::limiter::Limiter;
use crate::link::{LinkRefusal, form_token, verify_form_token, verify_link};
use crate::state::{Shared, blocking, rfc3339, unix_seconds};
use crate::views::{self, Available, Gone, LinkFields};

/// An HTML error answer.
#[derive(Debug)]
pub(crate) struct PageError {
    status: StatusCode,
    title: &'static str,
    message: &'static str,
    retry_after: Option<Duration>,
}

impl PageError {
    const fn new(status: StatusCode, title: &'static str, message: &'static str) -> PageError {
        PageError {
            status,
            title,
            message,
            retry_after: None,
        }
    }

    fn internal() -> PageError {
        PageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The server could not answer. Please try again in a few minutes.",
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, views::error_page(self.title, self.message)).into_response();
        if let Some(wait) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

const INVALID_LINK: PageError = PageError::new(
    StatusCode::FORBIDDEN,
    "This link is not valid",
    "Open your order again from your account to get a fresh link.",
);
const EXPIRED_LINK: PageError = PageError::new(
    StatusCode::FORBIDDEN,
    "This link has expired",
    "Links to the order page work for a few minutes only. Open your order again from your account to get a fresh link.",
);

/// `Form` whose rejections (wrong content type, a body over the limit, missing fields)
/// are HTML pages.
#[derive(Debug)]
pub(crate) struct PageForm<T>(T);

impl<S, T> FromRequest<S> for PageForm<T>
where
    Form<T>: FromRequest<S, Rejection = FormRejection>,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, PageError> {
        match Form::<T>::from_request(req, state).await {
            Ok(Form(value)) => Ok(PageForm(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(PageError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Too large",
                    "What you sent is larger than this page accepts.",
                ))
            }
            Err(_) => Err(INVALID_LINK),
        }
    }
}

#[derive(Debug, Deserialize)]
struct LinkQuery {
    exp: Option<String>,
    sig: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RevealForm {
    exp: String,
    sig: String,
    token: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CheckForm {
    exp: String,
    sig: String,
    token: String,
    csr: String,
}

fn limit(
    state: &Shared,
    limiter: &Limiter,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<(), PageError> {
    let client = state.client_ip(headers, peer);
    limiter.check(client, Instant::now()).map_err(|wait| {
        tracing::warn!("a client was rate limited");
        PageError {
            retry_after: Some(wait),
            ..PageError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                "Please wait a minute and try again.",
            )
        }
    })
}

/// The signed link's fields, checked; with the form token for the page's forms.
fn check_link(
    state: &Shared,
    order_id: &str,
    exp: &str,
    sig: &str,
) -> Result<LinkFields, PageError> {
    let now = unix_seconds(SystemTime::now());
    match verify_link(
        &state.link_key,
        order_id,
        exp,
        sig,
        now,
        state.link_lifetime,
    ) {
        Ok(expires) => Ok(LinkFields {
            order_id: order_id.to_owned(),
            exp: expires,
            sig: sig.to_owned(),
            token: form_token(&state.link_key, order_id, expires),
        }),
        Err(LinkRefusal::Expired) => Err(EXPIRED_LINK),
        Err(LinkRefusal::Invalid) => Err(INVALID_LINK),
    }
}

/// A POST from another site is refused (the browser says so in `Sec-Fetch-Site`); one
/// without the header (older browsers, scripts) still needs the signed fields and token.
/// The gate of every form POST (reveal, CSR check): not cross-site, a valid link, and the
/// form token this server rendered for that link.
fn check_form(
    state: &Shared,
    headers: &HeaderMap,
    order_id: &str,
    exp: &str,
    sig: &str,
    token: &str,
) -> Result<LinkFields, PageError> {
    refuse_cross_site(headers)?;
    let link = check_link(state, order_id, exp, sig)?;
    if !verify_form_token(&state.link_key, order_id, link.exp, token) {
        return Err(INVALID_LINK);
    }
    Ok(link)
}

fn refuse_cross_site(headers: &HeaderMap) -> Result<(), PageError> {
    let cross = headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|site| site.eq_ignore_ascii_case("cross-site"));
    if cross {
        return Err(INVALID_LINK);
    }
    Ok(())
}

fn gone_of(state: CredentialState) -> Gone {
    match state {
        CredentialState::Revoked => Gone::Revoked,
        CredentialState::Expired => Gone::Expired,
        _ => Gone::Missing,
    }
}

/// `GET /o/{order_id}?exp=…&sig=…`: the order page. Reads the state only.
pub(crate) async fn order_page(
    State(state): State<Shared>,
    Path(order_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    limit(&state, &state.page_limiter, &headers, peer)?;
    let query = axum::extract::Query::<LinkQuery>::try_from_uri(&uri).map_err(|_| INVALID_LINK)?;
    let (exp, sig) = match (&query.exp, &query.sig) {
        (Some(exp), Some(sig)) => (exp.as_str(), sig.as_str()),
        _ => return Err(INVALID_LINK),
    };
    let link = check_link(&state, &order_id, exp, sig)?;
    let worker = state.clone();
    let id = order_id.clone();
    let (status, format) = state
        .vault_threads
        .run(move || {
            let status = worker.pipeline.vault().status(&id);
            let format = worker.archives.format(&id).map(|format| format.extension());
            (status, format)
        })
        .await
        .ok_or_else(PageError::internal)?;
    match status {
        Ok(status) if status.state == CredentialState::Available && status.reveal_limit_reached => {
            let when = rfc3339(status.expires_at);
            Ok(views::gone_page(&link, Gone::LimitReached, Some(&when), None).into_response())
        }
        Ok(status) if status.state == CredentialState::Available => {
            let expires_at = rfc3339(status.expires_at);
            let left = status
                .expires_at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            let reveals_left = state
                .max_reveals
                .map(|max| max.get().saturating_sub(status.reveal_count));
            Ok(views::available_page(&Available {
                link: &link,
                expires_at: &expires_at,
                time_left: left,
                format,
                revealed: None,
                reveals_left,
            })
            .into_response())
        }
        Ok(status) => {
            let when = rfc3339(status.expires_at);
            Ok(views::gone_page(&link, gone_of(status.state), Some(&when), None).into_response())
        }
        Err(credential::Error::NotFound) => {
            Ok(views::gone_page(&link, Gone::Missing, None, None).into_response())
        }
        Err(err) => {
            tracing::error!(order_id = %order_id, error = %err, "vault status failed");
            Err(PageError::internal())
        }
    }
}

/// `POST /o/{order_id}/reveal`: the only way the code leaves the server.
pub(crate) async fn reveal(
    State(state): State<Shared>,
    Path(order_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    PageForm(form): PageForm<RevealForm>,
) -> Result<Response, PageError> {
    limit(&state, &state.reveal_limiter, &headers, peer)?;
    let link = check_form(
        &state,
        &headers,
        &order_id,
        &form.exp,
        &form.sig,
        &form.token,
    )?;
    let worker = state.clone();
    let id = order_id.clone();
    let revealed = state
        .vault_threads
        .run(move || {
            let revealed = worker.pipeline.vault().reveal(&id);
            let format = worker.archives.format(&id).map(|format| format.extension());
            (revealed, format)
        })
        .await
        .ok_or_else(PageError::internal)?;
    let metrics = &state.metrics;
    match revealed {
        (Ok(revealed), format) => {
            metrics.reveals.with_label_values(&["revealed"]).inc();
            tracing::info!(order_id = %order_id, reveal_count = revealed.reveal_count, "unlock code revealed");
            let code = revealed.code.reveal();
            let groups: Vec<&str> = code.expose_secret().split('-').collect();
            let expires_at = rfc3339(revealed.expires_at);
            let left = revealed
                .expires_at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            let reveals_left = state
                .max_reveals
                .map(|max| max.get().saturating_sub(revealed.reveal_count));
            Ok(views::available_page(&Available {
                link: &link,
                expires_at: &expires_at,
                time_left: left,
                format,
                revealed: Some(&groups),
                reveals_left,
            })
            .into_response())
        }
        (Err(credential::Error::Expired { expired_at }), _) => {
            metrics.reveals.with_label_values(&["expired"]).inc();
            metrics.expiries.inc();
            let when = rfc3339(expired_at);
            Ok(views::gone_page(&link, Gone::Expired, Some(&when), None).into_response())
        }
        (Err(credential::Error::RevealLimitReached), _) => {
            metrics.reveals.with_label_values(&["limit"]).inc();
            tracing::info!(order_id = %order_id, "reveal refused: the order's reveal limit is reached");
            Ok(views::gone_page(&link, Gone::LimitReached, None, None).into_response())
        }
        (Err(credential::Error::Revoked), _) => {
            metrics.reveals.with_label_values(&["revoked"]).inc();
            Ok(views::gone_page(&link, Gone::Revoked, None, None).into_response())
        }
        (Err(credential::Error::NotFound), _) => {
            metrics.reveals.with_label_values(&["not_found"]).inc();
            Ok(views::gone_page(&link, Gone::Missing, None, None).into_response())
        }
        (Err(err), _) => {
            metrics.reveals.with_label_values(&["failed"]).inc();
            tracing::error!(order_id = %order_id, error = %err, "reveal failed");
            Err(PageError::internal())
        }
    }
}

/// `GET /o/{order_id}/archive?exp=…&sig=…`: the encrypted archive, through the same signed
/// link (no reveal is counted; without the code the file is useless).
pub(crate) async fn archive(
    State(state): State<Shared>,
    Path(order_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    limit(&state, &state.page_limiter, &headers, peer)?;
    let query = axum::extract::Query::<LinkQuery>::try_from_uri(&uri).map_err(|_| INVALID_LINK)?;
    let (Some(exp), Some(sig)) = (&query.exp, &query.sig) else {
        return Err(INVALID_LINK);
    };
    check_link(&state, &order_id, exp, sig)?;
    match archive_response(&state, &order_id).await {
        Ok(ArchiveAnswer::File(response)) => Ok(response),
        Ok(ArchiveAnswer::Gone(_)) | Err(_) => Err(PageError::new(
            StatusCode::GONE,
            "The archive is gone",
            "The unlock code of this order expired or was revoked, so the archive was deleted. Open the order page again for what to do next.",
        )),
    }
}

/// `POST /o/{order_id}/check-csr`: the policy's report on the customer's own CSR, as a
/// page (nothing is stored).
pub(crate) async fn check_csr(
    State(state): State<Shared>,
    Path(order_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    PageForm(form): PageForm<CheckForm>,
) -> Result<Response, PageError> {
    limit(&state, &state.page_limiter, &headers, peer)?;
    let link = check_form(
        &state,
        &headers,
        &order_id,
        &form.exp,
        &form.sig,
        &form.token,
    )?;
    let worker = state.clone();
    let id = order_id.clone();
    let (report, status) = blocking(move || {
        (
            csr_report(form.csr.as_bytes()),
            worker.pipeline.vault().status(&id),
        )
    })
    .await
    .ok_or_else(PageError::internal)?;
    let (gone, when) = match status {
        Ok(status) => (gone_of(status.state), Some(rfc3339(status.expires_at))),
        Err(_) => (Gone::Missing, None),
    };
    Ok(views::gone_page(&link, gone, when.as_deref(), Some(&report)).into_response())
}

/// Unknown pages.
pub(crate) async fn not_found() -> PageError {
    PageError::new(
        StatusCode::NOT_FOUND,
        "Page not found",
        "Open your order from your account.",
    )
}
