//! Keyed SHA1 and Meticulous Keyed SHA1 authentication (RFC 5880 §6.7.4):
//! signing what a session sends, checking what it receives (key id,
//! sequence number window, hash).
//!
//! "The Auth Key/Hash field is then filled with the SHA1 hash of the
//! entire packet (with the key in the Auth Key/Hash field, padded with
//! zeros to 20 bytes)". Checking rebuilds the packet from its parsed form
//! (parse and emit round-trip byte for byte) with the key in place of the
//! hash.

use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::Refused;
use crate::wire::{Auth, ControlPacket};

/// A session's shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey {
    /// Auth Key ID (both sides must use the same).
    pub key_id: u8,
    /// The secret, 1 to 20 octets.
    pub secret: Vec<u8>,
    /// Meticulous Keyed SHA1 (type 5: the sequence number goes up with
    /// every packet and must go up at the receiver) rather than Keyed
    /// SHA1 (type 4).
    pub meticulous: bool,
}

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("AuthKey")
            .field("key_id", &self.key_id)
            .field("meticulous", &self.meticulous)
            .finish_non_exhaustive()
    }
}

impl AuthKey {
    /// The key padded with zeros to 20 octets (longer keys are cut, which
    /// the config refuses earlier).
    fn padded(&self) -> [u8; 20] {
        let mut k = [0u8; 20];
        let n = self.secret.len().min(20);
        k[..n].copy_from_slice(&self.secret[..n]);
        k
    }
}

/// Signing and checking state of one session.
#[derive(Debug, Clone)]
pub(super) struct AuthState {
    pub key: AuthKey,
    /// bfd.XmitAuthSeq.
    xmit_seq: u32,
    /// bfd.RcvAuthSeq, while bfd.AuthSeqKnown.
    rcv_seq: Option<u32>,
    /// When the last valid packet arrived (bfd.AuthSeqKnown is reset
    /// after twice the detection time without one).
    last_valid: Option<Instant>,
}

fn sha1(bytes: &[u8]) -> [u8; 20] {
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, bytes);
    let mut out = [0u8; 20];
    out.copy_from_slice(d.as_ref());
    out
}

/// The hash of `p` with `key` in the hash field.
fn hash(p: &ControlPacket, key: &AuthKey, seq: u32) -> [u8; 20] {
    let mut q = p.clone();
    q.auth = Some(Auth::Sha1 {
        meticulous: key.meticulous,
        key_id: key.key_id,
        seq,
        hash: key.padded(),
    });
    let mut buf = BytesMut::with_capacity(q.len());
    q.emit(&mut buf);
    sha1(&buf)
}

impl AuthState {
    /// `initial_seq`: "bfd.XmitAuthSeq ... SHOULD be initialized to a
    /// random 32-bit value".
    pub fn new(key: AuthKey, initial_seq: u32) -> AuthState {
        AuthState {
            key,
            xmit_seq: initial_seq,
            rcv_seq: None,
            last_valid: None,
        }
    }

    /// Adds the authentication section to `p`.
    pub fn sign(&mut self, p: &mut ControlPacket) {
        let seq = self.xmit_seq;
        // Incremented with every packet: required for Meticulous, allowed
        // for Keyed ("occasionally").
        self.xmit_seq = self.xmit_seq.wrapping_add(1);
        let h = hash(p, &self.key, seq);
        p.auth = Some(Auth::Sha1 {
            meticulous: self.key.meticulous,
            key_id: self.key.key_id,
            seq,
            hash: h,
        });
    }

    /// Checks a received packet (§6.7.4, receipt); `detection_time` and
    /// `detect_mult` are the session's, for the sequence window and its
    /// reset.
    pub fn verify(
        &mut self,
        now: Instant,
        p: &ControlPacket,
        detect_mult: u8,
        detection_time: Duration,
    ) -> Result<(), Refused> {
        let Some(Auth::Sha1 {
            meticulous,
            key_id,
            seq,
            hash: got,
        }) = &p.auth
        else {
            return Err(if p.auth.is_none() {
                Refused::AuthMissing
            } else {
                Refused::AuthMismatch
            });
        };
        if *meticulous != self.key.meticulous || *key_id != self.key.key_id {
            return Err(Refused::AuthMismatch);
        }
        if self
            .last_valid
            .is_some_and(|t| now.saturating_duration_since(t) > detection_time * 2)
        {
            self.rcv_seq = None;
        }
        if let Some(rcv) = self.rcv_seq {
            // "If bfd.AuthSeqKnown is 1, examine the Sequence Number
            // field. For Keyed SHA1, if the sequence number lies outside
            // of the range of bfd.RcvAuthSeq to bfd.RcvAuthSeq+(3*Detect
            // Mult) inclusive (when treated as an unsigned 32-bit circular
            // number space), the received packet MUST be discarded. For
            // Meticulous Keyed SHA1, if the sequence number lies outside
            // of the range of bfd.RcvAuthSeq+1 to bfd.RcvAuthSeq+(3*Detect
            // Mult) inclusive ..., the received packet MUST be discarded."
            let ahead = seq.wrapping_sub(rcv);
            let lo = u32::from(*meticulous);
            if ahead < lo || ahead > 3 * u32::from(detect_mult) {
                return Err(Refused::AuthSequence);
            }
        }
        if hash(p, &self.key, *seq) != *got {
            return Err(Refused::AuthDigest);
        }
        self.rcv_seq = Some(*seq);
        self.last_valid = Some(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Diag, State, parse};

    fn key(meticulous: bool) -> AuthKey {
        AuthKey {
            key_id: 7,
            secret: b"s3cret".to_vec(),
            meticulous,
        }
    }

    fn packet() -> ControlPacket {
        ControlPacket {
            diag: Diag::NONE,
            state: State::Up,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            multipoint: false,
            detect_mult: 3,
            my_discr: 1,
            your_discr: 2,
            desired_min_tx: 300_000,
            required_min_rx: 300_000,
            required_min_echo_rx: 0,
            auth: None,
        }
    }

    const DT: Duration = Duration::from_millis(900);

    #[test]
    fn the_hash_is_sha1_of_the_packet_with_the_key_in_place() {
        // RFC 3174's test vector "abc", to check the SHA-1 itself.
        assert_eq!(
            sha1(b"abc"),
            [
                0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
                0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d
            ]
        );
        let mut s = AuthState::new(key(false), 100);
        let mut p = packet();
        s.sign(&mut p);
        let mut bytes = BytesMut::new();
        p.emit(&mut bytes);
        assert_eq!(bytes.len(), 24 + 28);
        assert_eq!(&bytes[24..32], &[4, 28, 7, 0, 0, 0, 0, 100]);
        // The hash field over the packet with the padded key instead.
        let mut with_key = bytes.to_vec();
        with_key[32..52].copy_from_slice(&key(false).padded());
        assert_eq!(&bytes[32..52], &sha1(&with_key));
    }

    #[test]
    fn a_signed_packet_verifies_after_a_round_trip_on_the_wire() {
        let mut tx = AuthState::new(key(true), u32::MAX - 1);
        let mut rx = AuthState::new(key(true), 0);
        let now = Instant::now();
        for _ in 0..5 {
            let mut p = packet();
            tx.sign(&mut p);
            let mut b = BytesMut::new();
            p.emit(&mut b);
            let back = parse(&b).expect("valid");
            // Sequence numbers wrap around 2^32.
            assert_eq!(rx.verify(now, &back, 3, DT), Ok(()));
        }
    }

    #[test]
    fn wrong_keys_digests_and_replays_are_refused() {
        let now = Instant::now();
        let mut tx = AuthState::new(key(true), 10);
        let mut p = packet();
        tx.sign(&mut p);
        let mut other = AuthState::new(
            AuthKey {
                secret: b"other".to_vec(),
                ..key(true)
            },
            0,
        );
        assert_eq!(other.verify(now, &p, 3, DT), Err(Refused::AuthDigest));
        let mut keyed = AuthState::new(key(false), 0);
        assert_eq!(keyed.verify(now, &p, 3, DT), Err(Refused::AuthMismatch));
        let mut rx = AuthState::new(key(true), 0);
        assert_eq!(rx.verify(now, &packet(), 3, DT), Err(Refused::AuthMissing));
        assert_eq!(rx.verify(now, &p, 3, DT), Ok(()));
        // Meticulous: the same sequence number again is a replay.
        assert_eq!(rx.verify(now, &p, 3, DT), Err(Refused::AuthSequence));
        // Far ahead: outside 3 × Detect Mult.
        let mut far = AuthState::new(key(true), 10 + 10);
        let mut q = packet();
        far.sign(&mut q);
        assert_eq!(rx.verify(now, &q, 3, DT), Err(Refused::AuthSequence));
        // ... unless nothing valid came for twice the detection time.
        let later = now + DT * 3;
        assert_eq!(rx.verify(later, &q, 3, DT), Ok(()));
        // A flipped bit anywhere fails the digest.
        let mut t = packet();
        AuthState::new(key(true), 40).sign(&mut t);
        t.desired_min_tx += 1;
        let mut fresh = AuthState::new(key(true), 0);
        assert_eq!(fresh.verify(now, &t, 3, DT), Err(Refused::AuthDigest));
    }

    #[test]
    fn keyed_sha1_accepts_a_repeated_sequence_number() {
        let now = Instant::now();
        let mut tx = AuthState::new(key(false), 5);
        let mut p = packet();
        tx.sign(&mut p);
        let mut rx = AuthState::new(key(false), 0);
        assert_eq!(rx.verify(now, &p, 3, DT), Ok(()));
        assert_eq!(rx.verify(now, &p, 3, DT), Ok(()), "inclusive of RcvAuthSeq");
    }

    #[test]
    fn the_secret_is_not_in_debug_output() {
        assert!(!format!("{:?}", key(false)).contains("s3cret"));
    }
}
