#![no_main]
// Arbitrary bytes and an arbitrary password through the zip opener under default limits.
libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    let _ = autocsr_archive::open_fuzz_input(autocsr_archive::ArchiveFormat::Zip, input);
});
