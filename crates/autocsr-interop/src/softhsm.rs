//! SoftHSM2 tokens for tests: where its PKCS#11 module is, whether it is installed, and a
//! fresh token in a directory of the test's own.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` once per process, when the module is initialised, so a
//! test that wants a fresh token runs its body in a child process with the returned
//! configuration in that variable.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::missing;

/// SoftHSM2's PKCS#11 module: `AUTOCSR_PKCS11_MODULE`, else Debian's path.
#[must_use]
pub fn softhsm_module() -> PathBuf {
    std::env::var_os("AUTOCSR_PKCS11_MODULE").map_or_else(
        || PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"),
        PathBuf::from,
    )
}

/// Whether `softhsm2-util` runs and the module exists. When not, prints the `SKIPPED:`
/// notice (or fails under `AUTOCSR_REQUIRE_INTEROP=1`, see [`missing`]) and returns false.
#[must_use]
pub fn softhsm_available() -> bool {
    let util = Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if util && softhsm_module().exists() {
        return true;
    }
    missing(
        &format!(
            "SoftHSM2 is not installed (softhsm2-util and {})",
            softhsm_module().display()
        ),
        "apt-get install softhsm2",
    );
    false
}

/// Initialises a token labelled `label` with these PINs, its files in `dir/tokens`
/// (`dir` is created if needed), and returns the configuration file to put in
/// `SOFTHSM2_CONF`.
///
/// # Panics
/// When a file cannot be written or `softhsm2-util --init-token` fails (its stderr is in
/// the message).
pub fn init_softhsm_token(dir: &Path, label: &str, pin: &str, so_pin: &str) -> PathBuf {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens)
        .unwrap_or_else(|e| panic!("creating {}: {e}", tokens.display()));
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap_or_else(|e| panic!("writing {}: {e}", conf.display()));
    let init = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", label])
        .args(["--pin", pin, "--so-pin", so_pin])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap_or_else(|e| panic!("running softhsm2-util: {e}"));
    assert!(
        init.status.success(),
        "softhsm2-util --init-token failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    conf
}
