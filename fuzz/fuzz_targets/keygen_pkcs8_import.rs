#![no_main]
// Arbitrary bytes through the plain PKCS#8 readers (DER, and PEM when the bytes are UTF-8).
libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    let _ = autocsr_keygen::PrivateKey::from_pkcs8_der(input);
    let _ = std::str::from_utf8(input).map(autocsr_keygen::PrivateKey::from_pkcs8_pem);
});
