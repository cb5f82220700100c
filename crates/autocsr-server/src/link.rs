//! Signed order-page links: the portal (which knows who is logged in) signs a short-lived
//! link to one order's page; this server checks it. The reseller's login stays theirs, and
//! a leaked link dies within minutes.
//!
//! A link is `{base}/o/{order_id}?exp={expires}&sig={signature}` where `expires` is the
//! link's expiry in whole seconds since the Unix epoch (decimal, no sign or leading zeros
//! needed) and `signature` is the lower-case hex HMAC-SHA256, under the link key, of the
//! UTF-8 string
//!
//! ```text
//! autocsr-order-link-v1\n{order_id}\n{expires}
//! ```
//!
//! (three lines joined by a single line feed, no trailing newline). For instance in Python:
//! `hmac.new(key, f"autocsr-order-link-v1\n{order_id}\n{exp}".encode(), "sha256").hexdigest()`.

use std::time::Duration;

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;

use crate::Error;
use crate::secrets::HmacKey;

/// The first line of every signed string: the purpose and version, so a signature made
/// for a link is never valid for anything else (the form token, a webhook).
pub const LINK_SIGNATURE_CONTEXT: &str = "autocsr-order-link-v1";

/// The form token's context: the reveal and CSR-check forms carry an HMAC of the same
/// order id and expiry under this context, so a POST must come from a page this server
/// rendered for a valid link.
const FORM_TOKEN_CONTEXT: &str = "autocsr-order-form-v1";

/// How far a link's expiry may lie beyond now plus the longest lifetime: clock skew
/// between the portal and this server.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The longest link lifetime a server can be configured with.
pub const MAX_LINK_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &HmacKey, context: &str, order_id: &str, expires: u64) -> HmacSha256 {
    // Any key length is valid for HMAC; the fallback is never taken.
    let mut mac = HmacSha256::new_from_slice(key.bytes())
        .unwrap_or_else(|_| HmacSha256::new(&Default::default()));
    mac.update(context.as_bytes());
    mac.update(b"\n");
    mac.update(order_id.as_bytes());
    mac.update(b"\n");
    mac.update(expires.to_string().as_bytes());
    mac
}

/// The link signature for `order_id` expiring at `expires` (Unix seconds): lower-case hex
/// HMAC-SHA256 of `autocsr-order-link-v1\n{order_id}\n{expires}`.
pub fn link_signature(key: &HmacKey, order_id: &str, expires: u64) -> String {
    hex::encode(
        mac(key, LINK_SIGNATURE_CONTEXT, order_id, expires)
            .finalize()
            .into_bytes(),
    )
}

pub(crate) fn form_token(key: &HmacKey, order_id: &str, expires: u64) -> String {
    hex::encode(
        mac(key, FORM_TOKEN_CONTEXT, order_id, expires)
            .finalize()
            .into_bytes(),
    )
}

/// True for an order id the server accepts in a URL path: the vault's rule
/// (`autocsr::check_order_id`), and not only dots (`.` and `..` are path segments a
/// browser would resolve away).
pub fn is_url_safe_order_id(order_id: &str) -> bool {
    autocsr::check_order_id(order_id).is_ok() && !order_id.bytes().all(|b| b == b'.')
}

/// The full signed link to the order page: `{base_url}/o/{order_id}?exp=…&sig=…`.
/// `base_url` is the server's public URL (`http` or `https`, a trailing `/` is dropped).
///
/// ```
/// use autocsr_server::{HmacKey, sign_link};
///
/// let key = HmacKey::from_bytes(b"0123456789abcdef0123456789abcdef")?;
/// let link = sign_link("https://certs.example.com/", &key, "ord_1", 1_900_000_000)?;
/// assert!(link.starts_with("https://certs.example.com/o/ord_1?exp=1900000000&sig="));
/// assert!(sign_link("https://certs.example.com", &key, "../etc", 1_900_000_000).is_err());
/// # Ok::<(), autocsr_server::Error>(())
/// ```
///
/// # Errors
/// [`Error::Link`] for an order id outside the vault's rule or made only of dots, or a
/// base URL that is not `http://` or `https://`.
pub fn sign_link(
    base_url: &str,
    key: &HmacKey,
    order_id: &str,
    expires: u64,
) -> Result<String, Error> {
    if !is_url_safe_order_id(order_id) {
        return Err(Error::Link(
            "the order id must be 1 to 128 characters from A-Z, a-z, 0-9, '-', '_', '.' and ':' (not only dots)",
        ));
    }
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(Error::Link(
            "the base URL must start with http:// or https://",
        ));
    }
    let base = base_url.trim_end_matches('/');
    let sig = link_signature(key, order_id, expires);
    Ok(format!("{base}/o/{order_id}?exp={expires}&sig={sig}"))
}

/// Why a link was refused. The page says only "not valid" or "expired".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkRefusal {
    /// Missing or malformed `exp` or `sig`, a forged signature, or an expiry further away
    /// than the configured lifetime allows.
    Invalid,
    /// A genuine link whose expiry has passed.
    Expired,
}

fn parse_expiry(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Exactly 64 lower-case hex digits (the documented form; one spelling per link).
fn decode_mac(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    hex::decode(text).ok()
}

/// Checks a link (or the same fields in a form) at `now` (Unix seconds): the signature
/// first (in constant time), then the expiry, then that the expiry is no further than
/// `max_lifetime` (plus [`CLOCK_SKEW`]) away. Returns the expiry.
pub(crate) fn verify_link(
    key: &HmacKey,
    order_id: &str,
    exp: &str,
    sig: &str,
    now: u64,
    max_lifetime: Duration,
) -> Result<u64, LinkRefusal> {
    let expires = parse_expiry(exp).ok_or(LinkRefusal::Invalid)?;
    let presented = decode_mac(sig).ok_or(LinkRefusal::Invalid)?;
    mac(key, LINK_SIGNATURE_CONTEXT, order_id, expires)
        .verify_slice(&presented)
        .map_err(|_| LinkRefusal::Invalid)?;
    if expires <= now {
        return Err(LinkRefusal::Expired);
    }
    let furthest = now
        .saturating_add(max_lifetime.as_secs())
        .saturating_add(CLOCK_SKEW.as_secs());
    if expires > furthest {
        return Err(LinkRefusal::Invalid);
    }
    Ok(expires)
}

/// Checks a form token in constant time.
pub(crate) fn verify_form_token(key: &HmacKey, order_id: &str, expires: u64, token: &str) -> bool {
    decode_mac(token).is_some_and(|presented| {
        mac(key, FORM_TOKEN_CONTEXT, order_id, expires)
            .verify_slice(&presented)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> HmacKey {
        HmacKey::from_bytes(b"0123456789abcdef0123456789abcdef").unwrap()
    }

    const NOW: u64 = 1_800_000_000;
    const LIFE: Duration = Duration::from_secs(900);

    #[test]
    fn the_signing_string_is_the_documented_one() {
        // Computed independently: printf 'autocsr-order-link-v1\nord_1\n1800000600' |
        //   openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
        assert_eq!(
            link_signature(&key(), "ord_1", 1_800_000_600),
            "dc5b71e37782aa844ccb712512e8c7ea8d311ef0a17299abd7a5219559c1aa3b"
        );
    }

    #[test]
    fn a_fresh_link_passes_and_every_change_fails() {
        let exp = NOW + 600;
        let sig = link_signature(&key(), "ord_1", exp);
        let exp_text = exp.to_string();
        assert_eq!(
            verify_link(&key(), "ord_1", &exp_text, &sig, NOW, LIFE),
            Ok(exp)
        );
        // Another order, another expiry, a flipped character, upper case, truncated.
        assert_eq!(
            verify_link(&key(), "ord_2", &exp_text, &sig, NOW, LIFE),
            Err(LinkRefusal::Invalid)
        );
        assert_eq!(
            verify_link(&key(), "ord_1", &(exp + 1).to_string(), &sig, NOW, LIFE),
            Err(LinkRefusal::Invalid)
        );
        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            verify_link(&key(), "ord_1", &exp_text, &flipped, NOW, LIFE),
            Err(LinkRefusal::Invalid)
        );
        assert_eq!(
            verify_link(&key(), "ord_1", &exp_text, &sig[..62], NOW, LIFE),
            Err(LinkRefusal::Invalid)
        );
        assert_eq!(
            verify_link(&key(), "ord_1", &exp_text, &sig.to_uppercase(), NOW, LIFE),
            Err(LinkRefusal::Invalid)
        );
        assert_eq!(
            verify_link(&key(), "ord_1", &format!("+{exp}"), &sig, NOW, LIFE),
            Err(LinkRefusal::Invalid)
        );
    }

    #[test]
    fn expired_and_overlong_links_are_refused() {
        let past = NOW - 1;
        let sig = link_signature(&key(), "ord_1", past);
        assert_eq!(
            verify_link(&key(), "ord_1", &past.to_string(), &sig, NOW, LIFE),
            Err(LinkRefusal::Expired)
        );
        assert_eq!(
            verify_link(
                &key(),
                "ord_1",
                &NOW.to_string(),
                &link_signature(&key(), "ord_1", NOW),
                NOW,
                LIFE
            ),
            Err(LinkRefusal::Expired)
        );
        let far = NOW + LIFE.as_secs() + CLOCK_SKEW.as_secs() + 1;
        let sig = link_signature(&key(), "ord_1", far);
        assert_eq!(
            verify_link(&key(), "ord_1", &far.to_string(), &sig, NOW, LIFE),
            Err(LinkRefusal::Invalid)
        );
    }

    #[test]
    fn a_link_signature_is_not_a_form_token() {
        let exp = NOW + 600;
        let sig = link_signature(&key(), "ord_1", exp);
        assert!(!verify_form_token(&key(), "ord_1", exp, &sig));
        assert!(verify_form_token(
            &key(),
            "ord_1",
            exp,
            &form_token(&key(), "ord_1", exp)
        ));
        assert!(!verify_form_token(
            &key(),
            "ord_2",
            exp,
            &form_token(&key(), "ord_1", exp)
        ));
    }

    proptest::proptest! {
        /// Whatever arrives in `exp` and `sig` (they come from the URL), checking never
        /// panics, and nothing but the signature of exactly this order and expiry passes.
        #[test]
        fn only_the_exact_signature_passes(
            order_id in "[A-Za-z0-9_.:-]{1,40}",
            exp in "\\PC{0,30}",
            sig in "\\PC{0,80}",
            lifetime in 0u64..100_000,
        ) {
            let accepted = verify_link(&key(), &order_id, &exp, &sig, NOW, Duration::from_secs(lifetime));
            if let Ok(expires) = accepted {
                proptest::prop_assert_eq!(exp, expires.to_string());
                proptest::prop_assert_eq!(sig, link_signature(&key(), &order_id, expires));
            }
        }

        /// A genuine link passes within its lifetime, for any order id and expiry.
        #[test]
        fn a_genuine_link_passes(order_id in "[A-Za-z0-9_.:-]{1,128}", ahead in 1u64..900) {
            let expires = NOW + ahead;
            let sig = link_signature(&key(), &order_id, expires);
            proptest::prop_assert_eq!(
                verify_link(&key(), &order_id, &expires.to_string(), &sig, NOW, LIFE),
                Ok(expires)
            );
            let token = form_token(&key(), &order_id, expires);
            proptest::prop_assert!(verify_form_token(&key(), &order_id, expires, &token));
        }
    }

    #[test]
    fn dot_only_ids_are_not_linked() {
        assert!(!is_url_safe_order_id("."));
        assert!(!is_url_safe_order_id(".."));
        assert!(is_url_safe_order_id("a.b"));
        assert!(!is_url_safe_order_id("a/b"));
    }
}
