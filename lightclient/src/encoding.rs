//! The canonical binary encoding of consensus objects.
//!
//! Rules (ADR 0001): integers are fixed-width big-endian; `bool` is one byte, 0 or 1; byte strings
//! and UTF-8 strings carry a `u32` big-endian length; sequences carry a `u32` count; `Option` is a
//! one-byte tag (0 none, 1 some) before the value; enums are a one-byte tag before their fields;
//! structs are their fields in declaration order. Every value has exactly one encoding, and the
//! decoder accepts only that encoding and rejects trailing bytes, so `encode(decode(b)) == b` for
//! every `b` that decodes: hashes of encodings can identify objects.

use crate::hash::Hash32;

/// Upper bound for any length-prefixed byte or string field (a signed mapping object is the
/// largest legitimate field).
pub const MAX_FIELD_BYTES: usize = 4 * 1024 * 1024;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended inside a value.
    #[error("input ends early: {needed} more bytes needed for {what}, {remaining} left")]
    UnexpectedEnd {
        /// What was being read.
        what: &'static str,
        /// Bytes the value needs.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// Bytes were left after the top-level value.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    /// A `bool` byte other than 0 or 1.
    #[error("invalid bool byte {0:#04x}")]
    InvalidBool(u8),
    /// An enum or option tag outside the known range.
    #[error("unknown tag {tag} for {what}")]
    UnknownTag {
        /// The type being decoded.
        what: &'static str,
        /// The tag found.
        tag: u8,
    },
    /// A length prefix beyond the field's maximum.
    #[error("{what} is {len} long, more than the maximum {max}")]
    TooLong {
        /// The field.
        what: &'static str,
        /// The declared length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A string field that is not UTF-8.
    #[error("{what} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field.
        what: &'static str,
    },
    /// A versioned object of a version this code does not know.
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion {
        /// The object.
        what: &'static str,
        /// The version found.
        version: u16,
    },
    /// A field that decoded but breaks its type's rule.
    #[error("invalid {what}: {reason}")]
    InvalidValue {
        /// The field.
        what: &'static str,
        /// The rule broken.
        reason: String,
    },
}

/// A cursor over input bytes.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Takes exactly `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::UnexpectedEnd {
                what,
                needed: n,
                remaining: self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// Reads a `u32` length prefix and checks it against `max` and the bytes left.
    pub fn length(&mut self, what: &'static str, max: usize) -> Result<usize, DecodeError> {
        let len = usize::try_from(u32::from_be_bytes(self.array(what)?)).unwrap_or(usize::MAX);
        if len > max {
            return Err(DecodeError::TooLong { what, len, max });
        }
        Ok(len)
    }

    /// Reads the `u32` element count of a sequence whose elements take at least one byte each.
    /// A count above the bytes left is a lie; refusing it first keeps a hostile prefix from
    /// reserving memory.
    pub fn count(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let count = self.length(what, usize::MAX)?;
        if count > self.remaining() {
            return Err(DecodeError::TooLong {
                what,
                len: count,
                max: self.remaining(),
            });
        }
        Ok(count)
    }

    /// Reads a length-prefixed byte string of at most `max` bytes.
    pub fn bytes(&mut self, what: &'static str, max: usize) -> Result<Vec<u8>, DecodeError> {
        let len = self.length(what, max)?;
        Ok(self.take(len, what)?.to_vec())
    }

    /// Reads a length-prefixed UTF-8 string of at most `max` bytes.
    pub fn string(&mut self, what: &'static str, max: usize) -> Result<String, DecodeError> {
        String::from_utf8(self.bytes(what, max)?).map_err(|_| DecodeError::InvalidUtf8 { what })
    }

    /// Reads a one-byte tag.
    pub fn tag(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Fails unless every byte was read.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(self.rest.len()))
        }
    }
}

/// Writes the canonical encoding.
pub trait Encode {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// The encoding of `self`.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Reads the canonical encoding.
pub trait Decode: Sized {
    /// Reads one value from `reader`.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes a value that must span all of `bytes`.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let value = Self::decode(&mut reader)?;
        reader.finish()?;
        Ok(value)
    }
}

macro_rules! int_codec {
    ($($ty:ty),*) => {$(
        impl Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
        }
        impl Decode for $ty {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(<$ty>::from_be_bytes(reader.array(stringify!($ty))?))
            }
        }
    )*};
}
// i128 (settlement amounts): 16 bytes, two's complement, big-endian.
int_codec!(u8, u16, u32, u64, u128, i128);

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl Decode for bool {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match reader.tag("bool")? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::InvalidBool(other)),
        }
    }
}

impl<const N: usize> Encode for [u8; N] {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl<const N: usize> Decode for [u8; N] {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        reader.array("fixed bytes")
    }
}

impl Encode for Hash32 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Decode for Hash32 {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        reader.array("hash").map(Hash32)
    }
}

/// Appends a `u32` length prefix. Lengths are bounded by [`MAX_FIELD_BYTES`] and by the caller's
/// validated types, so they always fit.
pub(crate) fn encode_len(len: usize, out: &mut Vec<u8>) {
    u32::try_from(len).unwrap_or(u32::MAX).encode(out);
}

impl Encode for [u8] {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        out.extend_from_slice(self);
    }
}

impl Encode for str {
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_bytes().encode(out);
    }
}

impl Encode for String {
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_str().encode(out);
    }
}

impl Decode for String {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        reader.string("string", MAX_FIELD_BYTES)
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        for item in self {
            item.encode(out);
        }
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = reader.count("sequence")?;
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(T::decode(reader)?);
        }
        Ok(items)
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                value.encode(out);
            }
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match reader.tag("option")? {
            0 => Ok(None),
            1 => Ok(Some(T::decode(reader)?)),
            tag => Err(DecodeError::UnknownTag {
                what: "option",
                tag,
            }),
        }
    }
}

/// Implements [`Encode`] and [`Decode`] for a struct as its fields in the listed order.
macro_rules! struct_codec {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl $crate::encoding::Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                $( $crate::encoding::Encode::encode(&self.$field, out); )*
            }
        }
        impl $crate::encoding::Decode for $ty {
            fn decode(
                reader: &mut $crate::encoding::Reader<'_>,
            ) -> Result<Self, $crate::encoding::DecodeError> {
                Ok(Self { $( $field: $crate::encoding::Decode::decode(reader)?, )* })
            }
        }
    };
}
pub(crate) use struct_codec;

/// Implements [`Encode`] and [`Decode`] for a field-less enum with explicit one-byte tags.
macro_rules! unit_enum_codec {
    ($ty:ident { $($variant:ident = $tag:literal),* $(,)? }) => {
        impl $crate::encoding::Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                out.push(match self { $( $ty::$variant => $tag, )* });
            }
        }
        impl $crate::encoding::Decode for $ty {
            fn decode(
                reader: &mut $crate::encoding::Reader<'_>,
            ) -> Result<Self, $crate::encoding::DecodeError> {
                match reader.tag(stringify!($ty))? {
                    $( $tag => Ok($ty::$variant), )*
                    tag => Err($crate::encoding::DecodeError::UnknownTag {
                        what: stringify!($ty),
                        tag,
                    }),
                }
            }
        }
    };
}
pub(crate) use unit_enum_codec;

/// Implements [`Encode`]/[`Decode`] for an enum whose variants all have named fields (or `{}`),
/// with explicit one-byte tags.
macro_rules! struct_enum_codec {
    ($ty:ident { $($variant:ident = $tag:literal { $($field:ident),* }),* $(,)? }) => {
        impl Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                match self {
                    $( $ty::$variant { $($field),* } => {
                        out.push($tag);
                        $( Encode::encode($field, out); )*
                    } )*
                }
            }
        }
        impl Decode for $ty {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                match reader.tag(stringify!($ty))? {
                    $( $tag => Ok($ty::$variant { $( $field: Decode::decode(reader)?, )* }), )*
                    tag => Err(DecodeError::UnknownTag { what: stringify!($ty), tag }),
                }
            }
        }
    };
}
pub(crate) use struct_enum_codec;

/// Reads a version field and checks it equals `expected`.
pub(crate) fn expect_version(
    reader: &mut Reader<'_>,
    what: &'static str,
    expected: u16,
) -> Result<u16, DecodeError> {
    let version = u16::decode(reader)?;
    if version == expected {
        Ok(version)
    } else {
        Err(DecodeError::UnsupportedVersion { what, version })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_big_endian_fixed_width() {
        assert_eq!(0x0102u16.to_bytes(), vec![1, 2]);
        assert_eq!(1u64.to_bytes(), vec![0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(u128::from_bytes(&[0xff; 16]), Ok(u128::MAX));
    }

    #[test]
    fn bool_rejects_bytes_other_than_zero_and_one() {
        assert_eq!(bool::from_bytes(&[1]), Ok(true));
        assert_eq!(bool::from_bytes(&[2]), Err(DecodeError::InvalidBool(2)));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        assert_eq!(
            u16::from_bytes(&[0, 1, 9]),
            Err(DecodeError::TrailingBytes(1))
        );
    }

    #[test]
    fn short_input_names_what_was_being_read() {
        assert_eq!(
            u32::from_bytes(&[0, 1]),
            Err(DecodeError::UnexpectedEnd {
                what: "u32",
                needed: 4,
                remaining: 2
            })
        );
    }

    #[test]
    fn sequence_count_beyond_remaining_bytes_is_rejected_before_allocating() {
        let bytes = [0xff, 0xff, 0xff, 0xff, 0];
        assert_eq!(
            Vec::<u8>::from_bytes(&bytes),
            Err(DecodeError::TooLong {
                what: "sequence",
                len: 0xffff_ffff,
                max: 1
            })
        );
    }

    #[test]
    fn option_and_strings_round_trip() {
        let value: Option<String> = Some("gold".into());
        let bytes = value.to_bytes();
        assert_eq!(bytes, vec![1, 0, 0, 0, 4, b'g', b'o', b'l', b'd']);
        assert_eq!(Option::<String>::from_bytes(&bytes), Ok(value));
        assert_eq!(
            Option::<String>::from_bytes(&[2]),
            Err(DecodeError::UnknownTag {
                what: "option",
                tag: 2
            })
        );
        assert_eq!(
            String::from_bytes(&[0, 0, 0, 1, 0xff]),
            Err(DecodeError::InvalidUtf8 { what: "string" })
        );
    }
}
