//! RFC 8785 (JSON Canonicalization Scheme) for the JSON this protocol signs.
//!
//! The signed documents hold only strings, booleans, null, arrays, objects and integers of at most
//! 2^53 - 1 in magnitude, so the one hard part of JCS (ECMAScript float formatting) never arises:
//! a non-integer or larger number is refused rather than approximated (ADR 0002).

use serde_json::Value;

/// The largest integer JCS represents exactly (2^53 - 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A JSON value outside the subset this protocol canonicalises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalError {
    /// A number that is not an integer within +-(2^53 - 1).
    #[error("number {0} is not an integer within +-(2^53 - 1); amounts must be decimal strings")]
    UnsupportedNumber(String),
}

/// The RFC 8785 canonical bytes of `value`.
pub fn canonicalize(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::new();
    write_value(value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            let safe = n
                .as_u64()
                .map(|u| u <= MAX_SAFE_INTEGER)
                .or_else(|| n.as_i64().map(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER))
                .unwrap_or(false);
            if !safe {
                return Err(CanonicalError::UnsupportedNumber(n.to_string()));
            }
            out.extend_from_slice(n.to_string().as_bytes());
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // RFC 8785 §3.2.3: members sorted by the UTF-16 code units of their names.
            entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_value(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// ECMAScript `JSON.stringify` string escaping, as RFC 8785 §3.2.2.2 requires.
fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for ch in s.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if u32::from(c) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", u32::from(c)).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_by_utf16_units_and_escapes_like_ecmascript() {
        // RFC 8785 §3.2.3's sorting example: "\u{10000}" sorts before "\u{e000}" in UTF-16
        // (surrogate 0xd800 < 0xe000) though after it in UTF-8.
        let value = json!({"\u{e000}": 1, "\u{10000}": 2, "a": "\u{1}\n\"\\é"});
        let bytes = canonicalize(&value).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "{\"a\":\"\\u0001\\n\\\"\\\\é\",\"\u{10000}\":2,\"\u{e000}\":1}"
        );
    }

    #[test]
    fn refuses_floats_and_unsafe_integers() {
        assert_eq!(
            canonicalize(&json!({"amount": 1.5})),
            Err(CanonicalError::UnsupportedNumber("1.5".into()))
        );
        assert_eq!(
            canonicalize(&json!(MAX_SAFE_INTEGER + 1)),
            Err(CanonicalError::UnsupportedNumber("9007199254740992".into()))
        );
        assert_eq!(canonicalize(&json!(-42)).unwrap(), b"-42");
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-(MAX_SAFE_INTEGER as i64)..=(MAX_SAFE_INTEGER as i64)).prop_map(|i| json!(i)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        // An independent implementation of RFC 8785 must produce the same bytes.
        #[test]
        fn agrees_with_serde_json_canonicalizer(value in arb_json()) {
            let ours = canonicalize(&value).unwrap();
            let theirs = serde_json_canonicalizer::to_vec(&value).unwrap();
            proptest::prop_assert_eq!(ours, theirs);
        }
    }
}
