//! The credential window as a pure state machine (no clock inside: the host passes `now`).

use std::time::{Duration, SystemTime};

/// Seven days: how long the unlock code is shown after the order was processed.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Two days: how long before expiry the host may remind the customer (without the code).
pub const DEFAULT_REMINDER_LEAD: Duration = Duration::from_secs(2 * 24 * 60 * 60);

/// The credential window and its reminder lead.
///
/// With `expires_at = processed_at + window`, the boundaries are exact:
///
/// | `now` | state |
/// |---|---|
/// | `now < expires_at - reminder_lead` | [`LifecycleState::Available`] |
/// | `expires_at - reminder_lead <= now < expires_at` | [`LifecycleState::ReminderDue`] |
/// | `expires_at <= now` | [`LifecycleState::Expired`] (at `expires_at` exactly the code is gone) |
///
/// A `now` before `processed_at` (clock skew between hosts) is `Available` with
/// `remaining` longer than the window. If `processed_at + window` overflows
/// `SystemTime`, the state is `Expired` at `processed_at` (fail closed).
/// A reminder lead at least as long as the window makes the whole window `ReminderDue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Lifecycle {
    /// How long the code stays available after processing (default 7 days).
    pub window: Duration,
    /// How long before expiry a reminder becomes due (default 2 days).
    pub reminder_lead: Duration,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            window: DEFAULT_WINDOW,
            reminder_lead: DEFAULT_REMINDER_LEAD,
        }
    }
}

/// Where a credential stands at a given instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "state", rename_all = "snake_case"))]
pub enum LifecycleState {
    /// The code may be shown; no reminder yet.
    Available {
        /// The first instant at which the code is expired.
        expires_at: SystemTime,
        /// `expires_at - now`.
        remaining: Duration,
    },
    /// The code may still be shown, and the host may remind the customer (without the code).
    ReminderDue {
        /// The first instant at which the code is expired.
        expires_at: SystemTime,
        /// `expires_at - now` (at most the reminder lead).
        remaining: Duration,
    },
    /// The code is gone for good; the customer must reissue with a new CSR.
    Expired {
        /// The instant the code expired.
        expired_at: SystemTime,
    },
}

/// What the host should do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum NextAction {
    /// Nothing: the code can be shown on the order page.
    None,
    /// Remind the customer to fetch the code before it expires (never send the code).
    SendReminder,
    /// The code is gone: the order must be reissued with a new key and CSR.
    ReissueWithNewCsr,
}

impl Lifecycle {
    /// A lifecycle with the given window and reminder lead.
    #[must_use]
    pub const fn new(window: Duration, reminder_lead: Duration) -> Self {
        Self {
            window,
            reminder_lead,
        }
    }

    /// `processed_at + window`, or `None` if that overflows `SystemTime`.
    #[must_use]
    pub fn expires_at(&self, processed_at: SystemTime) -> Option<SystemTime> {
        processed_at.checked_add(self.window)
    }

    /// The state at `now` of a credential processed at `processed_at` (boundaries in the
    /// type's documentation).
    #[must_use]
    pub fn state(&self, processed_at: SystemTime, now: SystemTime) -> LifecycleState {
        let Some(expires_at) = self.expires_at(processed_at) else {
            return LifecycleState::Expired {
                expired_at: processed_at,
            };
        };
        match expires_at.duration_since(now) {
            // `now < expires_at`: still available. (`Ok(ZERO)` means now == expires_at.)
            Ok(remaining) if !remaining.is_zero() => {
                if remaining <= self.reminder_lead {
                    LifecycleState::ReminderDue {
                        expires_at,
                        remaining,
                    }
                } else {
                    LifecycleState::Available {
                        expires_at,
                        remaining,
                    }
                }
            }
            _ => LifecycleState::Expired {
                expired_at: expires_at,
            },
        }
    }
}

impl LifecycleState {
    /// What the host should do in this state.
    #[must_use]
    pub const fn next_action(&self) -> NextAction {
        match self {
            Self::Available { .. } => NextAction::None,
            Self::ReminderDue { .. } => NextAction::SendReminder,
            Self::Expired { .. } => NextAction::ReissueWithNewCsr,
        }
    }

    /// True while the code may still be shown (`Available` or `ReminderDue`).
    #[must_use]
    pub const fn is_available(&self) -> bool {
        !matches!(self, Self::Expired { .. })
    }
}
