//! libFuzzer entry of [`abt_fuzz::targets::ap_console_frame`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| abt_fuzz::targets::ap_console_frame(data));
