//! libFuzzer entry of [`abt_fuzz::targets::lc_receipt`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| abt_fuzz::targets::lc_receipt(data));
