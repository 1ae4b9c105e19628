//! libFuzzer entry point; the target itself is `landlock_tests::fuzz::shim_flags`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| landlock_tests::fuzz::shim_flags::run(data));
