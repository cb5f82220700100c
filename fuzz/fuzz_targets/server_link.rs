#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    autocsr_server::fuzzing::link_input(data);
});
