//! libFuzzer entry of [`abt_fuzz::targets::ms_evidence`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| abt_fuzz::targets::ms_evidence(data));
