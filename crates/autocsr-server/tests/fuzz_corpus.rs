//! Replays the committed `server_link` fuzz corpus on stable, so every input ever found
//! stays fixed.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test")]

use std::path::Path;

#[test]
fn replay_server_link_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/server_link");
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus directory missing: {e}"));
    let mut replayed = 0;
    for entry in entries {
        let input = std::fs::read(entry.unwrap().path()).unwrap();
        autocsr_server::fuzzing::link_input(&input);
        replayed += 1;
    }
    assert!(replayed > 0, "corpus directory is empty");
}

/// The seeds include a genuine link and form token, so the accepting branches run too.
#[test]
fn the_seed_corpus_holds_a_genuine_link() {
    let key = autocsr_server::HmacKey::from_bytes(b"fuzzing link key, 32 bytes long!").unwrap();
    let sig = autocsr_server::link_signature(&key, "ord_1", 1_800_000_600);
    let seed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/server_link/genuine-link"),
    )
    .unwrap();
    assert!(
        seed.starts_with(&format!("ord_1\n1800000600\n{sig}\n")),
        "{seed}"
    );
}
