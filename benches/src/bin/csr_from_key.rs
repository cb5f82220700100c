//! Signs a CSR for one name with an existing unencrypted PKCS#8 PEM key and writes it:
//! ours in the `openssl req -new -key KEY -subj /CN=NAME -addext subjectAltName=DNS:NAME`
//! row of `benches/compare/all.py` (read the key, build, sign, self-check, write PEM).
//!
//! Usage: `csr_from_key KEY.pem NAME OUT.csr`

use std::process::ExitCode;

use autocsr_keygen::{CsrRequest, PrivateKey};

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("csr_from_key: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let [key_path, name, out] = <[String; 3]>::try_from(args)
        .map_err(|_| "usage: csr_from_key KEY.pem NAME OUT.csr".to_owned())?;
    // The key file is read into a string that is not wiped: acceptable for a benchmark
    // tool fed throw-away keys, never for a host.
    let pem = std::fs::read_to_string(&key_path).map_err(|err| format!("{key_path}: {err}"))?;
    let key = PrivateKey::from_pkcs8_pem(&pem).map_err(|err| err.to_string())?;
    let csr = CsrRequest::new()
        .common_name(name.as_str())
        .name(&name)
        .sign(&key)
        .map_err(|err| err.to_string())?;
    std::fs::write(&out, csr.to_pem()).map_err(|err| format!("{out}: {err}"))
}
