//! `autocsr status`: the state of an order's code, without revealing it.

use autocsr::credential::CredentialState;
use autocsr::defaults::DefaultAutoCsr;
use serde::Serialize;

use super::shared::vault_error;
use crate::failure::CliError;
use crate::output::{NO_TAIL, Outcome, lines, rfc3339};

#[derive(Serialize)]
struct StatusJson<'a> {
    order_id: &'a str,
    state: &'static str,
    expires_at: String,
    reveal_count: u64,
}

pub(super) fn status(pipeline: &DefaultAutoCsr, order_id: &str) -> Result<Outcome, CliError> {
    let status = pipeline
        .vault()
        .status(order_id)
        .map_err(|err| vault_error(err, order_id))?;
    let state = match status.state {
        CredentialState::Available => "available",
        CredentialState::Expired => "expired",
        CredentialState::Revoked => "revoked",
        _ => "unknown",
    };
    let expires_at = rfc3339(status.expires_at);
    let human = lines(
        &[
            ("Order", order_id),
            ("State", state),
            ("Expires", &expires_at),
            ("Reveals", &status.reveal_count.to_string()),
        ],
        NO_TAIL,
    );
    Outcome::new(
        StatusJson {
            order_id,
            state,
            expires_at,
            reveal_count: status.reveal_count,
        },
        human,
    )
}
