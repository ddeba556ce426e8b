//! Writing a control packet into `BytesMut`.

use bytes::{BufMut, BytesMut};

use super::{ControlPacket, MIN_LEN, VERSION};

impl ControlPacket {
    /// The Length field: 24, plus the authentication section.
    pub fn len(&self) -> usize {
        MIN_LEN + self.auth.as_ref().map_or(0, |a| a.len())
    }

    /// Never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Appends the packet to `out`; the A bit is set iff there is an
    /// authentication section.
    pub fn emit(&self, out: &mut BytesMut) {
        out.reserve(self.len());
        out.put_u8((VERSION << 5) | (self.diag.0 & 0x1f));
        let flags = (self.state.code() << 6)
            | u8::from(self.poll) << 5
            | u8::from(self.final_) << 4
            | u8::from(self.control_plane_independent) << 3
            | u8::from(self.auth.is_some()) << 2
            | u8::from(self.demand) << 1
            | u8::from(self.multipoint);
        out.put_u8(flags);
        out.put_u8(self.detect_mult);
        // 24 + at most 253 parsed or 28 built: fits, and a larger one is
        // cut to what the field holds.
        out.put_u8(u8::try_from(self.len()).unwrap_or(u8::MAX));
        out.put_u32(self.my_discr);
        out.put_u32(self.your_discr);
        out.put_u32(self.desired_min_tx);
        out.put_u32(self.required_min_rx);
        out.put_u32(self.required_min_echo_rx);
        if let Some(a) = &self.auth {
            a.emit(out);
        }
    }
}
