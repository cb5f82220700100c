//! Exit codes and error reports: one clear sentence, then the cause chain, never a secret.

use std::error::Error as StdError;
use std::fmt;

/// Why the command did not succeed, with the exit code the README promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// 1: any other error.
    Other,
    /// 2: the command line asked for something impossible (clap reports its own usage
    /// errors with 2 as well).
    Usage,
    /// 3: the unlock code expired; the customer must reissue with a new CSR.
    Expired,
    /// 4: no such order in the vault.
    UnknownOrder,
    /// 5: the policy refused the CSR or the order's names.
    PolicyRefused,
    /// 6: wrong or mistyped unlock code.
    WrongCode,
    /// 7: the order was revoked.
    Revoked,
    /// 8: the vault record failed authentication (edited, moved to another order, or its
    /// key is missing): an incident to alert on, never retried.
    Tampered,
}

impl Failure {
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Failure::Other => 1,
            Failure::Usage => 2,
            Failure::Expired => 3,
            Failure::UnknownOrder => 4,
            Failure::PolicyRefused => 5,
            Failure::WrongCode => 6,
            Failure::Revoked => 7,
            Failure::Tampered => 8,
        }
    }

    /// Stable machine-readable name used in `--json` error objects.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Failure::Other => "error",
            Failure::Usage => "usage",
            Failure::Expired => "expired",
            Failure::UnknownOrder => "unknown_order",
            Failure::PolicyRefused => "policy_refused",
            Failure::WrongCode => "wrong_code",
            Failure::Revoked => "revoked",
            Failure::Tampered => "tampered",
        }
    }
}

/// An error as the user sees it. The message is written here, in the CLI, in words that
/// say what to do; the cause chain comes from the libraries, whose messages carry no
/// secrets (each crate's contract).
pub(crate) struct CliError {
    failure: Failure,
    message: String,
    cause: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl CliError {
    pub(crate) fn new(failure: Failure, message: impl Into<String>) -> CliError {
        CliError {
            failure,
            message: message.into(),
            cause: None,
        }
    }

    pub(crate) fn other(message: impl Into<String>) -> CliError {
        CliError::new(Failure::Other, message)
    }

    #[must_use]
    pub(crate) fn caused_by(
        mut self,
        cause: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> CliError {
        self.cause = Some(cause.into());
        self
    }

    pub(crate) fn failure(&self) -> Failure {
        self.failure
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// Every cause, outermost first, without repeating a message that is already shown.
    pub(crate) fn causes(&self) -> Vec<String> {
        let mut causes: Vec<String> = Vec::new();
        let mut next: Option<&(dyn StdError + 'static)> = match &self.cause {
            Some(cause) => Some(cause.as_ref()),
            None => None,
        };
        while let Some(cause) = next {
            let text = cause.to_string();
            if text != self.message && causes.last() != Some(&text) {
                causes.push(text);
            }
            next = cause.source();
        }
        causes
    }
}

impl fmt::Debug for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CliError")
            .field("failure", &self.failure)
            .field("message", &self.message)
            .field("causes", &self.causes())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer failure")
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_cause_chain_is_listed_outermost_first() {
        let err = CliError::other("could not do it").caused_by(Outer(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "permission denied",
        )));
        assert_eq!(err.causes(), ["outer failure", "permission denied"]);
        assert_eq!(err.failure().exit_code(), 1);
    }

    #[test]
    fn exit_codes_are_the_documented_ones() {
        let table = [
            (Failure::Other, 1, "error"),
            (Failure::Usage, 2, "usage"),
            (Failure::Expired, 3, "expired"),
            (Failure::UnknownOrder, 4, "unknown_order"),
            (Failure::PolicyRefused, 5, "policy_refused"),
            (Failure::WrongCode, 6, "wrong_code"),
            (Failure::Revoked, 7, "revoked"),
            (Failure::Tampered, 8, "tampered"),
        ];
        for (failure, code, kind) in table {
            assert_eq!(failure.exit_code(), code);
            assert_eq!(failure.kind(), kind);
        }
    }
}
