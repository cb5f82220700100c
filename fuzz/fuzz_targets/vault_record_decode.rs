#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = autocsr_credential::record::decode_and_open_joined(data);
});
