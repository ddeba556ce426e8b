//! The nom side of decoding: the primitives the decoders share and the one
//! conversion from nom's result into ours. nom never leaves `wire`: every
//! decoder maps a failed parse to the [`DecodeError`] (or RFC 7606 issue)
//! that the failing field calls for, so the error type used with nom is `()`.

use nom::IResult;

use super::error::DecodeError;

/// nom's result over bytes, with no error payload: which NOTIFICATION a
/// short read deserves depends on the field, so the caller decides.
pub(super) type Res<'a, T> = IResult<&'a [u8], T, ()>;

pub(super) use nom::Parser;

/// One octet.
pub(super) fn be_u8(i: &[u8]) -> Res<'_, u8> {
    nom::number::complete::be_u8(i)
}

/// Two octets, network order.
pub(super) fn be_u16(i: &[u8]) -> Res<'_, u16> {
    nom::number::complete::be_u16(i)
}

/// Four octets, network order.
pub(super) fn be_u32(i: &[u8]) -> Res<'_, u32> {
    nom::number::complete::be_u32(i)
}

/// `n` octets.
pub(super) fn take<'a>(
    n: impl nom::ToUsize,
) -> impl Parser<&'a [u8], Output = &'a [u8], Error = ()> {
    nom::bytes::complete::take(n)
}

/// Turns a failed nom parse into the [`DecodeError`] the field calls for.
pub(super) trait OrFail<'a, T> {
    /// `Ok((rest, value))`, or `Err(err())` if the parse failed.
    fn or_fail(self, err: impl FnOnce() -> DecodeError) -> Result<(&'a [u8], T), DecodeError>;
}

impl<'a, T> OrFail<'a, T> for Res<'a, T> {
    fn or_fail(self, err: impl FnOnce() -> DecodeError) -> Result<(&'a [u8], T), DecodeError> {
        self.map_err(|_| err())
    }
}

/// An octet then a value of that many octets.
pub(super) fn u8_prefixed(i: &[u8]) -> Res<'_, &[u8]> {
    let (i, len) = be_u8(i)?;
    take(len).parse_complete(i)
}

/// Two octets of length then a value of that many octets.
pub(super) fn u16_prefixed(i: &[u8]) -> Res<'_, &[u8]> {
    let (i, len) = be_u16(i)?;
    take(len).parse_complete(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_values_round_trip_and_fail_short() {
        assert_eq!(u8_prefixed(&[2, 7, 8, 9]), Ok((&[9u8][..], &[7u8, 8][..])));
        assert!(u8_prefixed(&[3, 7, 8]).is_err());
        assert_eq!(u16_prefixed(&[0, 1, 5]), Ok((&[][..], &[5u8][..])));
        assert!(u16_prefixed(&[0]).is_err());
        let e = be_u8(&[][..]).or_fail(|| DecodeError::ConnectionNotSynchronized);
        assert_eq!(e, Err(DecodeError::ConnectionNotSynchronized));
    }
}
