//! Replays the committed `csr_check` fuzz corpus on stable, so every input ever found
//! stays fixed.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test")]

use std::path::Path;

#[test]
fn replay_csr_check_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/csr_check");
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus directory missing: {e}"));
    let mut replayed = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        let [csr, _, _] = autocsr_policy::fuzzing::check_everything(&input);
        // A report is coherent: accepted exactly when no finding is an error.
        assert_eq!(
            csr.accepted(),
            !csr.findings()
                .iter()
                .any(|f| f.severity == autocsr_policy::Severity::Error),
            "{}",
            path.display()
        );
        replayed += 1;
    }
    assert!(replayed > 0, "corpus directory is empty");
}
