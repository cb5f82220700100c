//! `autocsr revoke`: destroys an order's unlock code for good.

use autocsr::defaults::DefaultAutoCsr;
use serde::Serialize;
use zeroize::Zeroizing;

use super::shared::vault_error;
use crate::failure::CliError;
use crate::output::{self, Outcome};

#[derive(Serialize)]
struct RevokeJson<'a> {
    order_id: &'a str,
    revoked: bool,
}

pub(super) fn revoke(pipeline: &DefaultAutoCsr, order_id: &str) -> Result<Outcome, CliError> {
    pipeline
        .vault()
        .revoke(order_id)
        .map_err(|err| vault_error(err, order_id))?;
    Outcome::new(
        RevokeJson {
            order_id,
            revoked: true,
        },
        Zeroizing::new(format!(
            "Order {} revoked: its unlock code is destroyed.\n",
            output::escape_controls(order_id)
        )),
    )
}
