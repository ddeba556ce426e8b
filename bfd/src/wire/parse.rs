//! Parsing a control packet from `&[u8]` with the checks of RFC 5880
//! §6.8.6 that need no session. Never panics: every input is a packet or
//! a [`PacketError`].

use nom::IResult;
use nom::Parser;
use nom::number::complete::{be_u8, be_u32};

use super::{Auth, ControlPacket, Diag, MIN_LEN, PacketError, State, VERSION};

/// The fixed 24 octets, as read.
struct Fixed {
    vers_diag: u8,
    flags: u8,
    detect_mult: u8,
    length: u8,
    my_discr: u32,
    your_discr: u32,
    desired_min_tx: u32,
    required_min_rx: u32,
    required_min_echo_rx: u32,
}

fn fixed(input: &[u8]) -> IResult<&[u8], Fixed> {
    let (rest, (vers_diag, flags, detect_mult, length)) =
        (be_u8, be_u8, be_u8, be_u8).parse(input)?;
    let (rest, (my_discr, your_discr, desired_min_tx, required_min_rx, required_min_echo_rx)) =
        (be_u32, be_u32, be_u32, be_u32, be_u32).parse(rest)?;
    Ok((
        rest,
        Fixed {
            vers_diag,
            flags,
            detect_mult,
            length,
            my_discr,
            your_discr,
            desired_min_tx,
            required_min_rx,
            required_min_echo_rx,
        },
    ))
}

/// Parses one control packet: `buf` is the whole UDP payload.
pub fn parse(buf: &[u8]) -> Result<ControlPacket, PacketError> {
    let Ok((_, f)) = fixed(buf) else {
        return Err(PacketError::Truncated { len: buf.len() });
    };
    let version = f.vers_diag >> 5;
    if version != VERSION {
        return Err(PacketError::Version(version));
    }
    let auth_bit = f.flags & 0x04 != 0;
    let min = if auth_bit { 26 } else { MIN_LEN as u8 };
    if f.length < min {
        return Err(PacketError::LengthTooSmall {
            length: f.length,
            min,
        });
    }
    if usize::from(f.length) > buf.len() {
        return Err(PacketError::LengthBeyondPayload {
            length: f.length,
            payload: buf.len(),
        });
    }
    if f.detect_mult == 0 {
        return Err(PacketError::ZeroDetectMult);
    }
    if f.flags & 0x01 != 0 {
        return Err(PacketError::Multipoint);
    }
    if f.my_discr == 0 {
        return Err(PacketError::ZeroMyDiscriminator);
    }
    let state = State::from_code(f.flags >> 6);
    if f.your_discr == 0 && !matches!(state, State::Down | State::AdminDown) {
        return Err(PacketError::ZeroYourDiscriminator(state));
    }
    let poll = f.flags & 0x20 != 0;
    let final_ = f.flags & 0x10 != 0;
    if poll && final_ {
        return Err(PacketError::PollAndFinal);
    }
    let auth = if auth_bit {
        // Length >= 26 was checked, and Length <= buf.len().
        let section = &buf[MIN_LEN..usize::from(f.length)];
        let (auth_type, auth_len) = (section[0], usize::from(section[1]));
        if auth_len < 2 || auth_len != section.len() {
            return Err(PacketError::Auth(
                "auth len does not match the packet length",
            ));
        }
        Some(Auth::from_parts(auth_type, &section[2..]).map_err(PacketError::Auth)?)
    } else {
        None
    };
    Ok(ControlPacket {
        diag: Diag(f.vers_diag & 0x1f),
        state,
        poll,
        final_,
        control_plane_independent: f.flags & 0x08 != 0,
        demand: f.flags & 0x02 != 0,
        multipoint: false,
        detect_mult: f.detect_mult,
        my_discr: f.my_discr,
        your_discr: f.your_discr,
        desired_min_tx: f.desired_min_tx,
        required_min_rx: f.required_min_rx,
        required_min_echo_rx: f.required_min_echo_rx,
        auth,
    })
}
