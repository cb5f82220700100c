//! Writes a new private key and a CSR for some names into a directory.
//!
//! ```text
//! cargo run --release -p autocsr-keygen --example keygen -- \
//!     [--algorithm rsa2048|rsa3072|rsa4096|p256|p384] [--key-only] --out DIR NAME...
//! ```
//!
//! `DIR/private-key.pem` (unencrypted PKCS#8, mode 0600) and `DIR/request.csr` are created;
//! existing files are never overwritten. The first name becomes the commonName. Names that
//! parse as IP addresses become IP SANs. `--key-only` skips the CSR (the benchmark
//! comparison with `openssl genpkey` uses it).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use autocsr_keygen::secrecy::ExposeSecret;
use autocsr_keygen::{CsrRequest, KeyAlgorithm, PrivateKey};

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("keygen: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut algorithm = KeyAlgorithm::Rsa2048;
    let mut out: Option<PathBuf> = None;
    let mut key_only = false;
    let mut names = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--algorithm" => {
                let value = args.next().ok_or("--algorithm needs a value")?;
                algorithm = value.parse().map_err(|err| format!("{err}"))?;
            }
            "--out" => out = Some(args.next().ok_or("--out needs a directory")?.into()),
            "--key-only" => key_only = true,
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
            _ => names.push(arg),
        }
    }
    let out = out.ok_or("--out DIR is required")?;
    if names.is_empty() && !key_only {
        return Err("give at least one DNS name or IP address".to_owned());
    }

    let key = PrivateKey::generate(algorithm).map_err(|err| err.to_string())?;
    // Build and sign the CSR before writing anything, so a refused name leaves no file.
    let csr = if key_only {
        None
    } else {
        let mut request = CsrRequest::new();
        if let Some(first) = names.first() {
            request = request.common_name(first.as_str());
        }
        for name in &names {
            request = request.name(name);
        }
        Some(request.sign(&key).map_err(|err| err.to_string())?)
    };

    let pem = key.to_pkcs8_pem().map_err(|err| err.to_string())?;
    write_new(
        &out.join("private-key.pem"),
        pem.expose_secret().as_bytes(),
        0o600,
    )?;
    if let Some(csr) = csr {
        write_new(&out.join("request.csr"), csr.to_pem().as_bytes(), 0o644)?;
    }
    Ok(())
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|err| format!("cannot create {}: {err}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|err| format!("cannot write {}: {err}", path.display()))
}
