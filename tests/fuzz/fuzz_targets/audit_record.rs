//! libFuzzer entry point; the target itself is `landlock_tests::fuzz::audit_record`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| landlock_tests::fuzz::audit_record::run(data));
