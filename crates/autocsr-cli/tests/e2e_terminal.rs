//! The spinner: shown on a terminal for slow keys, never with `--json`, never for fast keys.
//! A pseudo-terminal comes from util-linux `script`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code, including helpers outside #[test]: a failed expectation is the failure"
)]

mod common;

use std::fs;

use autocsr_interop::Program;
use common::Sandbox;

/// Runs `autocsr ARGS` on a pseudo-terminal and returns everything it drew there.
fn on_a_terminal(script: &Program, sandbox: &Sandbox, name: &str, args: &str) -> String {
    let typescript = sandbox.root.path().join(format!("{name}.typescript"));
    let command = format!(
        "{} --data-dir {} {args} --out {}",
        env!("CARGO_BIN_EXE_autocsr"),
        sandbox.data_dir().display(),
        sandbox.out_dir().display()
    );
    let output = script.run([
        "-q".as_ref(),
        "-e".as_ref(),
        "-c".as_ref(),
        command.as_ref(),
        typescript.as_os_str(),
    ]);
    let drawn = String::from_utf8_lossy(&fs::read(&typescript).unwrap()).into_owned();
    assert!(output.status.success(), "{drawn}");
    drawn
}

#[test]
fn slow_keys_show_a_spinner_only_on_a_terminal_and_never_with_json() {
    let script = autocsr_interop::require_program!("script");
    let sandbox = Sandbox::new();

    let drawn = on_a_terminal(
        &script,
        &sandbox,
        "rsa3072",
        "order --domain example.com --key rsa3072",
    );
    assert!(drawn.contains("generating the key pair"), "{drawn}");
    assert!(drawn.contains("Unlock code:"), "{drawn}");

    let drawn = on_a_terminal(
        &script,
        &sandbox,
        "json",
        "--json order --domain example.com --key rsa3072",
    );
    assert!(!drawn.contains("generating"), "{drawn}");
    let json_start = drawn.find('{').unwrap();
    let json_end = drawn.rfind('}').unwrap();
    let value: serde_json::Value = serde_json::from_str(&drawn[json_start..=json_end]).unwrap();
    assert_eq!(value["key"], "rsa3072");

    let drawn = on_a_terminal(
        &script,
        &sandbox,
        "p256",
        "order --domain example.com --key p256",
    );
    assert!(!drawn.contains("generating"), "{drawn}");
}
