//! libFuzzer entry of [`abt_fuzz::targets::signer_key_statement`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| abt_fuzz::targets::signer_key_statement(data));
