#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = autocsr_policy::fuzzing::check_everything(data);
});
