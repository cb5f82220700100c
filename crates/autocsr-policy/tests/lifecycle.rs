//! Boundary tests of the credential lifecycle (pure: times are passed in).
#![allow(clippy::unwrap_used, reason = "tests")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use autocsr_policy::{Lifecycle, LifecycleState, NextAction};

const DAY: Duration = Duration::from_secs(86_400);
const NANO: Duration = Duration::from_nanos(1);

fn processed() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

#[test]
fn defaults_are_seven_and_two_days() {
    let lifecycle = Lifecycle::default();
    assert_eq!(lifecycle.window, 7 * DAY);
    assert_eq!(lifecycle.reminder_lead, 2 * DAY);
}

#[test]
fn available_until_the_reminder_boundary() {
    let lifecycle = Lifecycle::default();
    let expires_at = processed() + 7 * DAY;
    assert_eq!(
        lifecycle.state(processed(), processed()),
        LifecycleState::Available {
            expires_at,
            remaining: 7 * DAY
        }
    );
    let just_before_reminder = expires_at - 2 * DAY - NANO;
    let state = lifecycle.state(processed(), just_before_reminder);
    assert_eq!(
        state,
        LifecycleState::Available {
            expires_at,
            remaining: 2 * DAY + NANO
        }
    );
    assert_eq!(state.next_action(), NextAction::None);
}

#[test]
fn reminder_due_from_expiry_minus_lead_inclusive() {
    let lifecycle = Lifecycle::default();
    let expires_at = processed() + 7 * DAY;
    let state = lifecycle.state(processed(), expires_at - 2 * DAY);
    assert_eq!(
        state,
        LifecycleState::ReminderDue {
            expires_at,
            remaining: 2 * DAY
        }
    );
    assert_eq!(state.next_action(), NextAction::SendReminder);
    assert!(state.is_available());
    let last_instant = lifecycle.state(processed(), expires_at - NANO);
    assert_eq!(
        last_instant,
        LifecycleState::ReminderDue {
            expires_at,
            remaining: NANO
        }
    );
}

#[test]
fn expired_exactly_at_expires_at() {
    let lifecycle = Lifecycle::default();
    let expires_at = processed() + 7 * DAY;
    let state = lifecycle.state(processed(), expires_at);
    assert_eq!(
        state,
        LifecycleState::Expired {
            expired_at: expires_at
        }
    );
    assert_eq!(state.next_action(), NextAction::ReissueWithNewCsr);
    assert!(!state.is_available());
    assert_eq!(
        lifecycle.state(processed(), expires_at + 365 * DAY),
        LifecycleState::Expired {
            expired_at: expires_at
        }
    );
}

#[test]
fn clock_skew_before_processing_is_available() {
    let lifecycle = Lifecycle::default();
    let state = lifecycle.state(processed(), processed() - DAY);
    assert_eq!(
        state,
        LifecycleState::Available {
            expires_at: processed() + 7 * DAY,
            remaining: 8 * DAY
        }
    );
}

#[test]
fn zero_window_is_expired_immediately_and_long_lead_reminds_at_once() {
    let zero = Lifecycle::new(Duration::ZERO, 2 * DAY);
    assert_eq!(
        zero.state(processed(), processed()),
        LifecycleState::Expired {
            expired_at: processed()
        }
    );
    let long_lead = Lifecycle::new(DAY, 2 * DAY);
    assert!(matches!(
        long_lead.state(processed(), processed()),
        LifecycleState::ReminderDue { .. }
    ));
    let no_lead = Lifecycle::new(DAY, Duration::ZERO);
    assert!(matches!(
        no_lead.state(processed(), processed() + DAY - NANO),
        LifecycleState::Available { .. }
    ));
}

#[test]
fn overflowing_window_fails_closed() {
    let lifecycle = Lifecycle::new(Duration::MAX, DAY);
    assert_eq!(lifecycle.expires_at(processed()), None);
    assert_eq!(
        lifecycle.state(processed(), processed()),
        LifecycleState::Expired {
            expired_at: processed()
        }
    );
}
