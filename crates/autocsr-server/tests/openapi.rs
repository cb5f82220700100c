//! docs/openapi.json is the document the code generates. Regenerate it with
//! `AUTOCSR_UPDATE_OPENAPI=1 cargo test -p autocsr-server --test openapi`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

#[test]
fn the_checked_in_openapi_document_is_the_generated_one() {
    let generated = autocsr_server::openapi_json().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var("AUTOCSR_UPDATE_OPENAPI").is_ok_and(|value| value == "1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/openapi.json differs from the API in the code; run AUTOCSR_UPDATE_OPENAPI=1 cargo test -p autocsr-server --test openapi"
    );
    // Every staff route is in it, with the bearer scheme.
    let document: serde_json::Value = serde_json::from_str(&generated).unwrap();
    for path in [
        "/v1/orders",
        "/v1/orders/{order_id}",
        "/v1/orders/{order_id}/revoke",
        "/v1/orders/{order_id}/archive",
        "/v1/csr/check",
    ] {
        assert!(document["paths"][path].is_object(), "{path}");
    }
    assert_eq!(
        document["components"]["securitySchemes"]["staff_token"]["scheme"],
        "bearer"
    );
}
