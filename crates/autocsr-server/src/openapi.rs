//! The OpenAPI document of the staff API, generated from the handlers and types. The copy
//! in docs/openapi.json is checked against this by a test.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;

/// The staff API's OpenAPI 3.1 document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "AutoCSR server staff API",
        description = "What a reseller's portal backend calls: create orders (key, CSR and encrypted archive; the unlock code is shown only to the customer, on the order page), read and revoke them, fetch the archive, and check a customer's CSR. Authenticate with `Authorization: Bearer <token>` (a token from the server's staff tokens file). Every error is a JSON `ErrorBody`.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        api::create_order,
        api::get_order,
        api::revoke_order,
        api::get_archive,
        api::check_csr
    ),
    components(schemas(
        api::CreateOrder,
        api::OrderCreated,
        api::OrderStatus,
        api::CsrCheckRequest,
        api::CsrReport,
        api::FindingBody,
        api::ErrorBody,
        api::KeyChoice,
        api::FormatChoice
    )),
    modifiers(&StaffToken),
    tags((name = "staff", description = "The portal backend's API"))
)]
#[non_exhaustive]
pub struct ApiDoc;

#[derive(Debug)]
struct StaffToken;

impl Modify for StaffToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "staff_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as pretty JSON with a final newline (the form checked into docs/).
///
/// # Errors
/// When serialization fails (it does not for this document).
pub fn openapi_json() -> Result<String, serde_json::Error> {
    let mut text = ApiDoc::openapi().to_pretty_json()?;
    text.push('\n');
    Ok(text)
}
