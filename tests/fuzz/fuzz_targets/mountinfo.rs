//! libFuzzer entry point; the target itself is `landlock_tests::fuzz::mountinfo`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| landlock_tests::fuzz::mountinfo::run(data));
