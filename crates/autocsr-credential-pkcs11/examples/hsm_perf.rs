//! Cost of one HSM wrap and unwrap, against the raw AES-256-GCM open of a record key in
//! software measured in the same run (the floor). Medians over `N` single operations.
//!
//! ```text
//! export SOFTHSM2_CONF=...   # a token initialised with softhsm2-util --init-token
//! AUTOCSR_HSM_TOKEN=label AUTOCSR_HSM_PIN=pin cargo run -p autocsr-credential-pkcs11 --example hsm_perf [N]
//! ```
//! `AUTOCSR_PKCS11_MODULE` overrides the module path (Debian's SoftHSM2 by default).

#![allow(clippy::print_stdout, reason = "an example that reports")]

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use autocsr_credential::{Error, KeyId, KeyWrapper};
use autocsr_credential_pkcs11::{HsmConfig, HsmKeyWrapper, Pin, Pkcs11Module};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn main() -> Result<(), Error> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let module_path = std::env::var_os("AUTOCSR_PKCS11_MODULE").map_or_else(
        || PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"),
        PathBuf::from,
    );
    let token = std::env::var("AUTOCSR_HSM_TOKEN").unwrap_or_else(|_| "autocsr".to_owned());
    let module = Pkcs11Module::load(&module_path)?;
    let wrapper = HsmKeyWrapper::open(
        &module,
        HsmConfig::new(&token, Pin::from_env("AUTOCSR_HSM_PIN")?),
    )?;

    let expiry = u64::try_from(
        (SystemTime::now() + Duration::from_secs(7 * 24 * 3600))
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX);
    let key = [0x5a_u8; 32];
    let id = KeyId::from_bytes([1; 16]);
    // The first wrap creates the period's key; not measured.
    let blob = wrapper.wrap(&id, expiry, &key)?;

    let software = Aes256Gcm::new_from_slice(&key).map_err(|_| Error::Randomness)?;
    let nonce = [7u8; 12];
    let aad = [3u8; 64];
    let sealed = software
        .encrypt(
            &nonce.into(),
            Payload {
                msg: &[9u8; 33],
                aad: &aad,
            },
        )
        .map_err(|_| Error::Randomness)?;

    let (mut wraps, mut unwraps, mut opens) = (Vec::new(), Vec::new(), Vec::new());
    // Interleaved, so a load change on the machine hits all three alike.
    for _ in 0..n {
        let t = Instant::now();
        let b = wrapper.wrap(&id, expiry, &key)?;
        wraps.push(t.elapsed());
        std::hint::black_box(b);

        let t = Instant::now();
        let k = wrapper.unwrap(&id, expiry, &blob)?;
        unwraps.push(t.elapsed());
        std::hint::black_box(k);

        let t = Instant::now();
        let code = software
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: &sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Randomness)?;
        opens.push(t.elapsed());
        std::hint::black_box(code);
    }
    // The software open is far below the timer's resolution under load: also time it in
    // batches of 1,000 and report the median batch's per-operation mean.
    let mut batches = Vec::new();
    for _ in 0..(n / 100).max(5) {
        let t = Instant::now();
        for _ in 0..1000 {
            let code = software
                .decrypt(
                    &nonce.into(),
                    Payload {
                        msg: &sealed,
                        aad: &aad,
                    },
                )
                .map_err(|_| Error::Randomness)?;
            std::hint::black_box(code);
        }
        batches.push(t.elapsed() / 1000);
    }
    let batched = median(batches);
    let (w, u, o) = (median(wraps), median(unwraps), median(opens));
    println!("{n} operations each, medians:");
    println!("  HSM wrap (C_Encrypt, AES-256-GCM):   {w:?}");
    println!("  HSM unwrap (C_Decrypt, AES-256-GCM): {u:?}");
    println!("  software AES-256-GCM record open:    {o:?}");
    println!("  software open, batches of 1,000:     {batched:?} per operation");
    println!(
        "  ratios to the batched software open: wrap {:.0}x, unwrap {:.0}x",
        w.as_secs_f64() / batched.as_secs_f64(),
        u.as_secs_f64() / batched.as_secs_f64()
    );
    Ok(())
}
