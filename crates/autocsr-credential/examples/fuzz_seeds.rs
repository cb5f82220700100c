//! Writes the seed corpus for the `unlock_code_parse` and `vault_record_decode` fuzz
//! targets: `cargo run -p autocsr-credential --example fuzz_seeds -- fuzz/corpus`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a one-off generator"
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use autocsr_credential::secrecy::ExposeSecret;
use autocsr_credential::{
    CodeLength, KeyStore, MemoryKeyStore, MemoryRecordStore, RecordStore, UnlockCode, Vault,
};

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).expect("corpus root"));
    let codes = root.join("unlock_code_parse");
    let records = root.join("vault_record_decode");
    std::fs::create_dir_all(&codes).unwrap();
    std::fs::create_dir_all(&records).unwrap();

    let code = UnlockCode::generate().unwrap();
    let text = code.reveal().expose_secret().to_owned();
    let short = UnlockCode::generate_os(CodeLength::from_bits(80).unwrap()).unwrap();
    let seeds: Vec<(&str, String)> = vec![
        ("canonical", text.clone()),
        (
            "sloppy",
            format!(
                "  {} ",
                text.to_lowercase().replace('-', " ").replace('0', "o")
            ),
        ),
        ("no-dashes", text.replace('-', "")),
        ("short-80-bits", short.reveal().expose_secret().to_owned()),
        ("bad-char", format!("{}U{}", &text[..3], &text[4..])),
        ("too-short", text[..10].to_owned()),
        ("empty", String::new()),
        ("unicode", "ＡＢＣ-ÄÖÜ-\u{0}-𝔘".to_owned()),
    ];
    for (name, seed) in seeds {
        std::fs::write(codes.join(name), seed).unwrap();
    }

    let record_store = Arc::new(MemoryRecordStore::new());
    let key_store = Arc::new(MemoryKeyStore::new());
    let vault = Vault::new(record_store.clone(), key_store.clone());
    vault.issue("seed-live", Duration::from_secs(3600)).unwrap();
    vault
        .issue("seed-revoked", Duration::from_secs(3600))
        .unwrap();
    let mut keys = std::collections::HashMap::new();
    for id in ["seed-live", "seed-revoked"] {
        let record = record_store.load(id).unwrap().unwrap();
        keys.insert(id, key_store.get(&record.key_id).unwrap().unwrap());
    }
    vault.revoke("seed-revoked").unwrap();
    for id in ["seed-live", "seed-revoked"] {
        let record = record_store.load(id).unwrap().unwrap();
        // Take the key before the revoke below destroys it: the seed needs a real key.
        let key = keys.get(id).unwrap().clone();
        let mut joined = vec![u8::try_from(key.len()).unwrap()];
        joined.extend_from_slice(&key);
        let encoded = record.encode().unwrap();
        joined.extend_from_slice(&encoded);
        std::fs::write(records.join(id), &joined).unwrap();
        let mut truncated = joined.clone();
        truncated.truncate(joined.len() - 3);
        std::fs::write(records.join(format!("{id}-truncated")), truncated).unwrap();
        let mut flipped = joined;
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        std::fs::write(records.join(format!("{id}-flipped")), flipped).unwrap();
    }
    // A live record whose stored expiry no version writes (year 10000 and beyond).
    let mut far = record_store.load("seed-live").unwrap().unwrap();
    far.expires_at_ms = u64::MAX;
    let key = &keys["seed-live"];
    let mut joined = vec![u8::try_from(key.len()).unwrap()];
    joined.extend_from_slice(key);
    joined.extend_from_slice(&far.encode().unwrap());
    std::fs::write(records.join("seed-live-absurd-expiry"), joined).unwrap();
    std::fs::write(records.join("empty"), b"").unwrap();
    std::fs::write(records.join("short-key"), [200u8, 1, 2, 3]).unwrap();
}
