#![no_main]
// Arbitrary bytes through the encrypted PKCS#8 readers (DER, and PEM when UTF-8) under the
// passphrase the seeds were encrypted with, so mutations reach the KDF checks and the key.
libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    let passphrase = autocsr_keygen::secrecy::SecretString::from("fuzz");
    let _ = autocsr_keygen::PrivateKey::from_encrypted_pkcs8_der(input, &passphrase);
    let _ = std::str::from_utf8(input)
        .map(|pem| autocsr_keygen::PrivateKey::from_encrypted_pkcs8_pem(pem, &passphrase));
});
