#![no_main]
// Arbitrary text through the DNS name syntax check and the IDNA conversion.
libfuzzer_sys::fuzz_target!(|input: &str| {
    let _ = autocsr_keygen::check_dns_name(input);
    let _ = autocsr_keygen::dns_name_to_ascii(input);
});
