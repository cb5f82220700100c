//! Entry points for the `server_link` fuzz target (`fuzz/`), and for the test that replays
//! its committed corpus on stable. Not part of the API: only built with the `_fuzzing`
//! feature.

use std::time::Duration;

use crate::link::{LinkRefusal, form_token, link_signature, verify_form_token, verify_link};
use crate::secrets::{HmacKey, StaffTokens};

/// A fixed "now" (Unix seconds) so a run is reproducible.
const NOW: u64 = 1_800_000_000;

/// Feeds one untrusted input to everything a customer's request or a portal's header can
/// reach before the vault: the link check, the form-token check, the bearer-token check
/// and the order body's JSON. `data` is split at its first three line feeds into order id,
/// `exp`, `sig` and the rest (used as form token, bearer token and JSON body).
///
/// # Panics
/// (Which the fuzzer reports.) When a check accepts what it must not: a link or
/// form token that is not exactly the one this key signs, or an expiry outside the window.
pub fn link_input(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.splitn(4, '\n');
    let order_id = fields.next().unwrap_or_default();
    let exp = fields.next().unwrap_or_default();
    let sig = fields.next().unwrap_or_default();
    let rest = fields.next().unwrap_or_default();

    let Ok(key) = HmacKey::from_bytes(b"fuzzing link key, 32 bytes long!") else {
        return;
    };
    let lifetime = Duration::from_secs(900);
    match verify_link(&key, order_id, exp, sig, NOW, lifetime) {
        Ok(expires) => {
            assert_eq!(exp.parse::<u64>().ok(), Some(expires), "expiry misread");
            assert_eq!(sig, link_signature(&key, order_id, expires), "forged link");
            assert!(expires > NOW, "expired link accepted");
            assert!(expires <= NOW + 900 + crate::link::CLOCK_SKEW.as_secs());
        }
        Err(LinkRefusal::Expired | LinkRefusal::Invalid) => {}
    }
    if let Ok(expires) = exp.parse::<u64>() {
        if verify_form_token(&key, order_id, expires, rest) {
            assert_eq!(
                rest,
                form_token(&key, order_id, expires),
                "forged form token"
            );
        }
        // The link signature is never a valid form token (distinct contexts).
        let signature = link_signature(&key, order_id, expires);
        assert!(!verify_form_token(&key, order_id, expires, &signature));
    }

    if let Ok(tokens) = StaffTokens::parse("fuzzing-staff-token-0123456789abcdef") {
        let _ = tokens.check(rest);
    }
    let _ = StaffTokens::parse(rest);
    let _ = serde_json::from_str::<crate::api::CreateOrder>(rest);
    let _ = serde_json::from_str::<crate::api::CsrCheckRequest>(rest);
}
