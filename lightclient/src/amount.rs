//! Decimal amount strings and their conversion to integer base units.
//!
//! Amounts never pass through floating point. A textual amount is `0` or a digit string without
//! leading zeros, optionally followed by `.` and at least one digit. Signs, exponents, spaces and
//! more fractional digits than the asset's precision are refused.

/// The most decimals any asset may have (u128 holds 38 full digits).
pub const MAX_PRECISION: u8 = 18;

/// Why an amount string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// The string is empty.
    #[error("amount is empty")]
    Empty,
    /// Starts with `-`.
    #[error("amount {0:?} is negative")]
    Negative(String),
    /// Contains an exponent (`e`/`E`).
    #[error("amount {0:?} uses an exponent; write all digits")]
    Exponent(String),
    /// An integer part with a leading zero, such as `01`.
    #[error("amount {0:?} has a leading zero")]
    LeadingZero(String),
    /// Any other character or shape that is not `digits[.digits]`.
    #[error("amount {0:?} is not a decimal number of the form 123 or 123.45")]
    NotDecimal(String),
    /// More fractional digits than the asset's precision.
    #[error("amount {amount:?} has {decimals} decimals, more than the precision {precision}")]
    TooManyDecimals {
        /// The amount text.
        amount: String,
        /// Its fractional digits.
        decimals: usize,
        /// The precision allowed.
        precision: u8,
    },
    /// The value does not fit in u128 base units.
    #[error("amount {0:?} is too large")]
    Overflow(String),
    /// The precision itself is beyond [`MAX_PRECISION`].
    #[error("precision {0} is more than {MAX_PRECISION}")]
    PrecisionTooLarge(u8),
}

/// Parses `text` into base units of an asset with `precision` decimals.
pub fn parse_amount(text: &str, precision: u8) -> Result<u128, AmountError> {
    if precision > MAX_PRECISION {
        return Err(AmountError::PrecisionTooLarge(precision));
    }
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    let owned = || text.to_string();
    if text.starts_with('-') {
        return Err(AmountError::Negative(owned()));
    }
    // Only a number written with an exponent is called one ("five" is simply not digits).
    if text.contains(['e', 'E'])
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, 'e' | 'E' | '.' | '+' | '-'))
    {
        return Err(AmountError::Exponent(owned()));
    }
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
        return Err(AmountError::NotDecimal(owned()));
    }
    if int_part.len() > 1 && int_part.starts_with('0') {
        return Err(AmountError::LeadingZero(owned()));
    }
    let frac = frac_part.unwrap_or("");
    if frac.len() > usize::from(precision) {
        return Err(AmountError::TooManyDecimals {
            amount: owned(),
            decimals: frac.len(),
            precision,
        });
    }
    let mut value: u128 = 0;
    let padding = usize::from(precision).saturating_sub(frac.len());
    let digits = int_part
        .bytes()
        .chain(frac.bytes())
        .chain(std::iter::repeat_n(b'0', padding));
    for digit in digits {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(digit.saturating_sub(b'0'))))
            .ok_or_else(|| AmountError::Overflow(owned()))?;
    }
    Ok(value)
}

/// Formats base units as the shortest decimal string with at most `precision` decimals
/// (trailing fractional zeros dropped): the inverse of [`parse_amount`] on canonical text.
pub fn format_amount(units: u128, precision: u8) -> String {
    let digits = units.to_string();
    let precision = usize::from(precision);
    if precision == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = precision.saturating_add(1));
    let split = padded.len().saturating_sub(precision);
    let (int_part, frac_part) = padded.split_at(split);
    let frac_part = frac_part.trim_end_matches('0');
    if frac_part.is_empty() {
        int_part.to_string()
    } else {
        format!("{int_part}.{frac_part}")
    }
}

/// Serde helper: a `u128` as a decimal string of base units, since JSON numbers above 2^53 are
/// not portable.
pub mod u128_string {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises as a decimal string.
    pub fn serialize<S: Serializer>(value: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    /// Deserialises from a string of ASCII digits without a leading zero.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::parse_amount(&text, 0).map_err(serde::de::Error::custom)
    }
}

/// Serde helper: an optional `u128` as a decimal string of base units, or null.
pub mod option_u128_string {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises as a decimal string, or null.
    pub fn serialize<S: Serializer>(value: &Option<u128>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    /// Deserialises from null or a string as [`super::u128_string`] takes it.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u128>, D::Error> {
        match Option::<std::borrow::Cow<'de, str>>::deserialize(d)? {
            None => Ok(None),
            Some(text) => super::parse_amount(&text, 0)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Serde for a signed `i128` amount (settlement amounts, unsettled positions) as a decimal
/// string: `-` then the magnitude in the form of [`u128_string`]. JSON numbers cannot carry
/// them (and serde cannot buffer an `i128` inside a tagged enum).
pub mod i128_string {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises as a decimal string.
    pub fn serialize<S: Serializer>(value: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    /// Deserialises from an optional `-` and ASCII digits without a leading zero; `-0` is
    /// refused (one value, one form).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.as_ref()),
        };
        let magnitude = super::parse_amount(digits, 0).map_err(serde::de::Error::custom)?;
        if negative && magnitude == 0 {
            return Err(serde::de::Error::custom("-0 is not an amount"));
        }
        let value = if negative {
            0i128.checked_sub_unsigned(magnitude)
        } else {
            i128::try_from(magnitude).ok()
        };
        value.ok_or_else(|| serde::de::Error::custom(format!("{text} is out of range")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Signed(#[serde(with = "i128_string")] i128);

    #[test]
    fn signed_amounts_are_decimal_strings_in_one_form() {
        for value in [0, 1, -1, 120, -120, i128::MAX, i128::MIN] {
            let json = serde_json::to_string(&Signed(value)).unwrap();
            assert_eq!(json, format!("\"{value}\""));
            assert_eq!(
                serde_json::from_str::<Signed>(&json).unwrap(),
                Signed(value)
            );
        }
        for bad in [
            "\"-0\"",
            "\"01\"",
            "\"+1\"",
            "\"1.5\"",
            "12",
            "\"170141183460469231731687303715884105728\"",
        ] {
            assert!(serde_json::from_str::<Signed>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accepts_integers_and_decimals_within_precision() {
        assert_eq!(parse_amount("0", 3), Ok(0));
        assert_eq!(parse_amount("12", 3), Ok(12_000));
        assert_eq!(parse_amount("12.5", 3), Ok(12_500));
        assert_eq!(parse_amount("0.001", 3), Ok(1));
        assert_eq!(parse_amount("400.000", 3), Ok(400_000));
    }

    #[test]
    fn refuses_each_bad_shape_with_its_own_error() {
        assert_eq!(parse_amount("", 2), Err(AmountError::Empty));
        assert_eq!(
            parse_amount("-1", 2),
            Err(AmountError::Negative("-1".into()))
        );
        assert_eq!(
            parse_amount("1e3", 2),
            Err(AmountError::Exponent("1e3".into()))
        );
        assert_eq!(
            parse_amount("01", 2),
            Err(AmountError::LeadingZero("01".into()))
        );
        for bad in ["1.", ".5", "+1", " 1", "1,5", "1.2.3", "NaN", "0x10"] {
            assert_eq!(
                parse_amount(bad, 2),
                Err(AmountError::NotDecimal(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            parse_amount("1.234", 2),
            Err(AmountError::TooManyDecimals {
                amount: "1.234".into(),
                decimals: 3,
                precision: 2
            })
        );
        let huge = "1".repeat(40);
        assert_eq!(
            parse_amount(&huge, 0),
            Err(AmountError::Overflow(huge.clone()))
        );
        assert_eq!(
            parse_amount("1", 19),
            Err(AmountError::PrecisionTooLarge(19))
        );
    }

    #[test]
    fn formats_without_trailing_zeros() {
        assert_eq!(format_amount(12_500, 3), "12.5");
        assert_eq!(format_amount(1, 3), "0.001");
        assert_eq!(format_amount(0, 3), "0");
        assert_eq!(format_amount(7, 0), "7");
        assert_eq!(format_amount(u128::MAX, 0), u128::MAX.to_string());
    }

    proptest::proptest! {
        #[test]
        fn format_then_parse_is_identity(units in proptest::num::u128::ANY, precision in 0u8..=18) {
            proptest::prop_assert_eq!(parse_amount(&format_amount(units, precision), precision), Ok(units));
        }

        #[test]
        fn parse_never_panics(text in ".{0,48}", precision in 0u8..=20) {
            let _ = parse_amount(&text, precision);
        }
    }
}
