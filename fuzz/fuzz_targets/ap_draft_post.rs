//! libFuzzer entry of [`abt_fuzz::targets::ap_draft_post`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| abt_fuzz::targets::ap_draft_post(data));
