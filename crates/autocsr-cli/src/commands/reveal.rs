//! `autocsr reveal`: the unlock code again, while its window is open.

use std::time::SystemTime;

use autocsr::defaults::DefaultAutoCsr;
use secrecy::ExposeSecret as _;
use serde::Serialize;

use super::shared::vault_error;
use crate::failure::CliError;
use crate::output::{NO_TAIL, Outcome, lines, remaining, rfc3339};

/// Borrows the unlock code, so serde_json writes it without a copy. The fields are in
/// alphabetical order because that is the order the keys have always been printed in.
#[derive(Serialize)]
struct RevealJson<'a> {
    expires_at: &'a str,
    order_id: &'a str,
    reveal_count: u64,
    unlock_code: &'a str,
}

pub(super) fn reveal(
    pipeline: &DefaultAutoCsr,
    order_id: &str,
    json: bool,
) -> Result<Outcome, CliError> {
    let revealed = pipeline
        .vault()
        .reveal(order_id)
        .map_err(|err| vault_error(err, order_id))?;
    let expires_at = rfc3339(revealed.expires_at);
    let expires = format!(
        "{expires_at} (in {})",
        remaining(revealed.expires_at, SystemTime::now())
    );
    let reveals = revealed.reveal_count.to_string();
    // From here until it is printed, the code lives only in zeroizing buffers.
    let code = revealed.code.reveal();
    Outcome::carrying_secret(
        json,
        &RevealJson {
            expires_at: &expires_at,
            order_id,
            reveal_count: revealed.reveal_count,
            unlock_code: code.expose_secret(),
        },
        || {
            lines(
                &[
                    ("Order", order_id),
                    ("Unlock code", code.expose_secret()),
                    ("Expires", &expires),
                    ("Reveals", &reveals),
                ],
                NO_TAIL,
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::shared::test_support::{CODE, assert_prints_like_before};

    #[test]
    fn reveal_json_prints_like_before() {
        assert_prints_like_before(&RevealJson {
            expires_at: "2026-12-02T17:36:54Z",
            order_id: "ord_1",
            reveal_count: 2,
            unlock_code: CODE,
        });
    }
}
