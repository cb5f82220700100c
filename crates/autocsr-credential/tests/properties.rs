//! Property tests: code round trips, typo detection, and the vault against a model.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: a failure should abort the test"
)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use autocsr_credential::record::RecordBody;
use autocsr_credential::secrecy::ExposeSecret;
use autocsr_credential::{
    CodeLength, CredentialState, Error, ManualClock, MemoryKeyStore, MemoryRecordStore, UnlockCode,
    Vault,
};
use autocsr_credential::{KeyStore, RecordStore};
use proptest::prelude::*;

/// Hands out the bytes proptest chose: lets proptest drive `generate_with_rng`.
struct ScriptedRng(Vec<u8>, usize);

impl rand_core::TryRng for ScriptedRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for d in dst {
            *d = self.0[self.1 % self.0.len()];
            self.1 += 1;
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for ScriptedRng {}

const ALPHABET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn code_strategy() -> impl Strategy<Value = (UnlockCode, CodeLength)> {
    (prop::collection::vec(any::<u8>(), 29), 80u32..=145).prop_map(|(bytes, bits)| {
        let length = CodeLength::from_bits(bits).unwrap();
        (
            UnlockCode::generate_with_rng(&mut ScriptedRng(bytes, 0), length),
            length,
        )
    })
}

proptest! {
    #[test]
    fn code_text_parse_round_trip((code, length) in code_strategy(), lower in any::<bool>()) {
        let text = code.reveal().expose_secret().to_owned();
        prop_assert_eq!(text.len(), length.canonical_len());
        let typed = if lower { text.to_lowercase() } else { text.clone() };
        let parsed = UnlockCode::parse_with_length(&typed, length).unwrap();
        let parsed_text = parsed.reveal();
        prop_assert_eq!(parsed_text.expose_secret(), text.as_str());
        prop_assert!(parsed == code);
        prop_assert!(UnlockCode::parse_any_length(&text).unwrap() == code);
    }

    #[test]
    fn any_single_character_typo_is_a_checksum_error(
        (code, length) in code_strategy(),
        position in any::<prop::sample::Index>(),
        replacement in any::<prop::sample::Index>(),
    ) {
        let symbols: Vec<char> =
            code.reveal().expose_secret().chars().filter(|c| *c != '-').collect();
        let i = position.index(symbols.len());
        let mut typo = symbols.clone();
        let choices: Vec<char> = ALPHABET.chars().filter(|c| *c != symbols[i]).collect();
        typo[i] = *replacement.get(&choices);
        let typed: String = typo.into_iter().collect();
        prop_assert!(matches!(UnlockCode::parse_with_length(&typed, length), Err(Error::ChecksumMismatch)));
    }

    #[test]
    fn any_adjacent_swap_is_a_checksum_error(
        (code, length) in code_strategy(),
        position in any::<prop::sample::Index>(),
    ) {
        let mut symbols: Vec<char> =
            code.reveal().expose_secret().chars().filter(|c| *c != '-').collect();
        let i = position.index(symbols.len() - 1);
        prop_assume!(symbols[i] != symbols[i + 1]);
        symbols.swap(i, i + 1);
        let typed: String = symbols.into_iter().collect();
        prop_assert!(matches!(UnlockCode::parse_with_length(&typed, length), Err(Error::ChecksumMismatch)));
    }
}

#[derive(Clone, Debug)]
enum Op {
    Issue(usize, u32),
    Reveal(usize),
    Revoke(usize),
    Status(usize),
    Purge,
    Advance(u64),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..6usize, 1..5u32).prop_map(|(id, hours)| Op::Issue(id, hours)),
        (0..6usize).prop_map(Op::Reveal),
        (0..6usize).prop_map(Op::Revoke),
        (0..6usize).prop_map(Op::Status),
        Just(Op::Purge),
        (0..300u64).prop_map(Op::Advance),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ModelState {
    Live,
    Expired,
    Revoked,
}

struct ModelRecord {
    code: String,
    expires_ms: u64,
    state: ModelState,
    reveals: u64,
    /// The record's key is still in the key store.
    has_key: bool,
}

const HOUR_MS: u64 = 3_600_000;

fn is_expired<T>(result: &Result<T, Error>) -> bool {
    matches!(result, Err(Error::Expired { .. }))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Issue / reveal / revoke / status / purge against a plain model, with the fake clock.
    #[test]
    fn vault_matches_the_model(ops in prop::collection::vec(op_strategy(), 1..60)) {
        let start_ms = 20_833 * 86_400_000u64;
        let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_millis(start_ms)).unwrap());
        let keys = Arc::new(MemoryKeyStore::new());
        let vault = Vault::new(Arc::new(MemoryRecordStore::new()), keys.clone())
            .with_clock(clock.clone());
        let mut now = start_ms;
        let mut model: HashMap<String, ModelRecord> = HashMap::new();

        for op in ops {
            match op {
                Op::Issue(id, hours) => {
                    let id = format!("order-{id}");
                    let expires = now + u64::from(hours) * HOUR_MS;
                    let result = vault.issue(&id, Duration::from_secs(u64::from(hours) * 3600));
                    match model.entry(id) {
                        std::collections::hash_map::Entry::Occupied(_) => {
                            prop_assert!(matches!(result, Err(Error::AlreadyExists)));
                        }
                        std::collections::hash_map::Entry::Vacant(slot) => {
                            let issued = result.unwrap();
                            prop_assert_eq!(issued.expires_at, UNIX_EPOCH + Duration::from_millis(expires));
                            slot.insert(ModelRecord {
                                code: issued.code.reveal().expose_secret().to_owned(),
                                expires_ms: expires,
                                state: ModelState::Live,
                                reveals: 0,
                                has_key: true,
                            });
                        }
                    }
                }
                Op::Reveal(id) => {
                    let id = format!("order-{id}");
                    let result = vault.reveal(&id);
                    match model.get_mut(&id) {
                        None => prop_assert!(matches!(result, Err(Error::NotFound))),
                        Some(m) => {
                            if m.state == ModelState::Live && now >= m.expires_ms {
                                m.state = ModelState::Expired;
                                m.has_key = false;
                            }
                            match m.state {
                                ModelState::Revoked => prop_assert!(matches!(result, Err(Error::Revoked))),
                                ModelState::Expired => prop_assert!(is_expired(&result)),
                                ModelState::Live => {
                                    let r = result.unwrap();
                                    m.reveals += 1;
                                    let revealed = r.code.reveal();
                                    prop_assert_eq!(revealed.expose_secret(), m.code.as_str());
                                    prop_assert_eq!(r.reveal_count, m.reveals);
                                }
                            }
                        }
                    }
                }
                Op::Revoke(id) => {
                    let id = format!("order-{id}");
                    let result = vault.revoke(&id);
                    match model.get_mut(&id) {
                        None => prop_assert!(matches!(result, Err(Error::NotFound))),
                        Some(m) => {
                            if m.state == ModelState::Live && now >= m.expires_ms {
                                m.state = ModelState::Expired;
                                m.has_key = false;
                            }
                            match m.state {
                                ModelState::Expired => prop_assert!(is_expired(&result)),
                                ModelState::Revoked => prop_assert!(result.is_ok()),
                                ModelState::Live => {
                                    prop_assert!(result.is_ok());
                                    m.state = ModelState::Revoked;
                                    m.has_key = false;
                                }
                            }
                        }
                    }
                }
                Op::Status(id) => {
                    let id = format!("order-{id}");
                    let result = vault.status(&id);
                    match model.get(&id) {
                        None => prop_assert!(matches!(result, Err(Error::NotFound))),
                        Some(m) => {
                            let status = result.unwrap();
                            let expected = match m.state {
                                ModelState::Revoked => CredentialState::Revoked,
                                ModelState::Expired => CredentialState::Expired,
                                ModelState::Live if now >= m.expires_ms => CredentialState::Expired,
                                ModelState::Live => CredentialState::Available,
                            };
                            prop_assert_eq!(status.state, expected);
                            prop_assert_eq!(status.reveal_count, m.reveals);
                        }
                    }
                }
                Op::Purge => {
                    let report = vault.purge().unwrap();
                    let before = model.len();
                    let keys_due = model.values().filter(|m| m.has_key && m.expires_ms <= now).count();
                    model.retain(|_, m| m.expires_ms > now);
                    prop_assert_eq!(report.records_destroyed, (before - model.len()) as u64);
                    prop_assert_eq!(report.keys_destroyed, keys_due as u64);
                }
                Op::Advance(minutes) => {
                    clock.advance(Duration::from_secs(minutes * 60));
                    now += minutes * 60_000;
                }
            }
            // Exactly the records that can still be revealed, or expired without a reveal
            // or purge yet, hold a key: a revoked code never does.
            let expected_keys = model.values().filter(|m| m.has_key).count();
            prop_assert_eq!(keys.count().unwrap(), expected_keys as u64);
        }
    }
}

fn absurd_time() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        Just(0u64),
        Just(u64::MAX),
        Just(i64::MAX as u64),
        Just(253_402_300_799_999u64),
        Just(253_402_300_800_000u64),
        (0..20_000u64).prop_map(|d| 20_833 * 86_400_000 + d * 3_600_000),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever times and count a record store hands back, no read path panics, and a
    /// reveal that does not return the code does not count.
    #[test]
    fn absurd_stored_times_never_panic_and_never_count(
        created in absurd_time(),
        expires in absurd_time(),
        count in prop_oneof![Just(0u64), Just(u64::MAX), Just(i64::MAX as u64), any::<u64>()],
        now_days in 0u64..4_000,
        tombstone in 0u8..3,
    ) {
        let start_ms = 20_833 * 86_400_000u64;
        let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_millis(start_ms)).unwrap());
        let records = Arc::new(MemoryRecordStore::new());
        let vault = Vault::new(records.clone(), Arc::new(MemoryKeyStore::new()))
            .with_clock(clock.clone());
        vault.issue("victim", Duration::from_secs(86_400)).unwrap();
        let mut record = records.load("victim").unwrap().unwrap();
        let untouched = record.created_at_ms == created && record.expires_at_ms == expires;
        record.created_at_ms = created;
        record.expires_at_ms = expires;
        record.reveal_count = count;
        record.body = match tombstone {
            0 => record.body,
            1 => RecordBody::Expired { destroyed_at_ms: created },
            _ => RecordBody::Revoked { revoked_at_ms: expires },
        };
        records.overwrite(record);
        clock.advance(Duration::from_secs(now_days * 86_400));

        let revealed = vault.reveal("victim");
        let after = records.load("victim").unwrap().map(|r| r.reveal_count);
        match &revealed {
            Ok(r) => {
                prop_assert!(untouched && tombstone == 0);
                prop_assert!(r.reveal_count >= count.min(i64::MAX as u64));
            }
            Err(_) => prop_assert!(after.is_none_or(|c| c == count), "a failed reveal counted"),
        }
        if let Ok(status) = vault.status("victim") {
            // Every time handed out is at most year 9999.
            prop_assert!(status.expires_at <= UNIX_EPOCH + Duration::from_millis(253_402_300_799_999));
        }
        let _ = vault.revoke("victim");
        vault.purge().unwrap();
        let _ = vault.status("victim");
    }
}
