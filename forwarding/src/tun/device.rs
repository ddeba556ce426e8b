//! Creating (or attaching to) a multi-queue TUN device: `TUNSETIFF` once per
//! queue, then the vnet header size and the offloads the kernel accepts.
//! Owns [`TunConfig`], [`Offloads`] and [`Tun`]; per-queue I/O is in
//! [`super::queue`].

use std::ffi::CString;
use std::io;
use std::os::fd::AsFd;

use super::error::TunError;
use super::queue::TunQueue;
use super::sys;
use super::vnet::VnetHdr;

/// Most queues a Linux TUN device supports (`MAX_TAP_QUEUES`).
pub const MAX_QUEUES: usize = 256;

/// What TUN device to open and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunConfig {
    /// Interface name (at most 15 bytes). An existing TUN device of that
    /// name (persistent, multi-queue) is attached to; otherwise one is
    /// created and vanishes when its last queue is closed. A `%d` pattern
    /// ("vcpe%d") lets the kernel pick a free number.
    pub name: String,
    /// Number of queues (file descriptors), normally one per worker thread.
    pub queues: usize,
    /// Enable the virtio net header and checksum/segmentation offloads, so
    /// that GSO super-packets pass through whole.
    pub offload: bool,
}

/// The offloads in force on a device (`TUNSETOFFLOAD` flags accepted).
///
/// With `csum` off no vnet header is used at all and every packet is a
/// plain, complete IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offloads {
    /// Packets carry a `virtio_net_hdr` ([`VnetHdr`]) and may have a partial
    /// L4 checksum (`TUN_F_CSUM`).
    pub csum: bool,
    /// TCP-over-IPv4 super-packets (`TUN_F_TSO4`).
    pub tso4: bool,
    /// TCP-over-IPv6 super-packets (`TUN_F_TSO6`).
    pub tso6: bool,
    /// TCP super-packets with ECN/CWR (`TUN_F_TSO_ECN`).
    pub tso_ecn: bool,
    /// UDP-over-IPv4 super-packets (`TUN_F_USO4`, Linux 6.2+).
    pub uso4: bool,
    /// UDP-over-IPv6 super-packets (`TUN_F_USO6`, Linux 6.2+).
    pub uso6: bool,
}

impl Offloads {
    /// The `TUNSETOFFLOAD` argument for these offloads.
    fn flags(self) -> libc::c_uint {
        let bit = |on: bool, f: libc::c_uint| if on { f } else { 0 };
        bit(self.csum, libc::TUN_F_CSUM)
            | bit(self.tso4, libc::TUN_F_TSO4)
            | bit(self.tso6, libc::TUN_F_TSO6)
            | bit(self.tso_ecn, libc::TUN_F_TSO_ECN)
            | bit(self.uso4, libc::TUN_F_USO4)
            | bit(self.uso6, libc::TUN_F_USO6)
    }
}

/// An open TUN device and its queues.
///
/// Take the queues out with [`Tun::into_queues`] to give one to each worker
/// thread; the device lives until the last queue is dropped (unless it is
/// persistent).
#[derive(Debug)]
pub struct Tun {
    name: String,
    ifindex: u32,
    offloads: Offloads,
    queues: Vec<TunQueue>,
}

impl Tun {
    /// Creates the device, or attaches to an existing one of that name,
    /// with `config.queues` queues.
    ///
    /// Flags: `IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE`, plus `IFF_VNET_HDR`
    /// with `offload`. With `offload`, the vnet header size is set to 10
    /// and checksum + TSO4/6 + TSO-ECN + USO4/6 are requested, falling back
    /// to no USO on kernels that reject it.
    pub fn create(config: &TunConfig) -> Result<Tun, TunError> {
        validate_name(&config.name)?;
        if config.queues == 0 || config.queues > MAX_QUEUES {
            return Err(TunError::InvalidQueues {
                requested: config.queues,
                max: MAX_QUEUES,
            });
        }
        let mut flags = libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_MULTI_QUEUE;
        if config.offload {
            flags |= libc::IFF_VNET_HDR;
        }
        // The IFF_* bits used all fit in `ifr_flags` (a short): max 0x5101.
        let flags = flags as libc::c_short;

        let mut name = config.name.clone();
        let mut queues = Vec::with_capacity(config.queues);
        for _ in 0..config.queues {
            let fd = sys::open_clone_device().map_err(|e| open_error(e, &name))?;
            let mut req = sys::IfReq::new(name.as_bytes(), flags);
            sys::tun_set_iff(fd.as_fd(), &mut req).map_err(|e| set_iff_error(e, &name))?;
            // The kernel writes back the real name ("vcpe%d" -> "vcpe0");
            // further queues must name that device.
            name = req.name();
            queues.push(TunQueue::new(fd, config.offload));
        }

        let offloads = match (config.offload, queues.first()) {
            (true, Some(q)) => enable_offloads(q, &name)?,
            _ => Offloads::default(),
        };
        let cname = CString::new(name.as_str()).map_err(|_| TunError::InvalidName {
            name: name.clone(),
            reason: "contains a NUL byte",
        })?;
        let ifindex = sys::if_nametoindex(&cname).map_err(|source| TunError::Io {
            op: "if_nametoindex",
            name: name.clone(),
            source,
        })?;
        Ok(Tun {
            name,
            ifindex,
            offloads,
            queues,
        })
    }

    /// The interface name (as the kernel reports it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface index in the namespace the device was created in.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The offloads in force.
    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    /// The queues, still owned by the device.
    pub fn queues(&self) -> &[TunQueue] {
        &self.queues
    }

    /// Gives up the queues, one per worker thread.
    pub fn into_queues(self) -> Vec<TunQueue> {
        self.queues
    }
}

/// Sets the vnet header size and negotiates the offload flags on the device
/// (both are per device, so one queue suffices).
fn enable_offloads(q: &TunQueue, name: &str) -> Result<Offloads, TunError> {
    let io_err = |op: &'static str| {
        move |source: io::Error| TunError::Io {
            op,
            name: name.to_owned(),
            source,
        }
    };
    // VnetHdr::LEN is 10.
    sys::tun_set_vnet_hdr_sz(q.as_fd(), VnetHdr::LEN as libc::c_int)
        .map_err(io_err("TUNSETVNETHDRSZ"))?;
    let mut want = Offloads {
        csum: true,
        tso4: true,
        tso6: true,
        tso_ecn: true,
        uso4: true,
        uso6: true,
    };
    match sys::tun_set_offload(q.as_fd(), want.flags()) {
        Ok(()) => return Ok(want),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
        Err(e) => return Err(io_err("TUNSETOFFLOAD")(e)),
    }
    // Kernels before 6.2 reject the USO bits with EINVAL.
    want.uso4 = false;
    want.uso6 = false;
    sys::tun_set_offload(q.as_fd(), want.flags()).map_err(io_err("TUNSETOFFLOAD"))?;
    Ok(want)
}

/// Rejects names the kernel would refuse (or silently truncate).
fn validate_name(name: &str) -> Result<(), TunError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() >= libc::IFNAMSIZ {
        Some("longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("reserved")
    } else if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
    {
        Some("contains '/', ':', NUL or whitespace")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(TunError::InvalidName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Maps an `open("/dev/net/tun")` failure.
fn open_error(e: io::Error, name: &str) -> TunError {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => TunError::DeviceMissing,
        Some(libc::EACCES) | Some(libc::EPERM) => TunError::PermissionDenied {
            op: "opening /dev/net/tun for",
            name: name.to_owned(),
        },
        _ => TunError::Io {
            op: "open /dev/net/tun",
            name: name.to_owned(),
            source: e,
        },
    }
}

/// Maps a `TUNSETIFF` failure.
fn set_iff_error(e: io::Error, name: &str) -> TunError {
    let name = name.to_owned();
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => TunError::PermissionDenied {
            op: "creating or attaching to",
            name,
        },
        Some(libc::EINVAL) => TunError::FlagsMismatch { name },
        Some(libc::EBUSY) => TunError::Busy { name },
        _ => TunError::Io {
            op: "TUNSETIFF",
            name,
            source: e,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        for bad in ["", "a/b", "a b", "a:b", ".", "0123456789abcdef"] {
            assert!(
                matches!(validate_name(bad), Err(TunError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        for good in ["vcpe0", "vcpe%d", "0123456789abcde"] {
            assert!(validate_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn queue_count_is_checked_before_any_syscall() {
        let cfg = TunConfig {
            name: "vcpe-test".into(),
            queues: 0,
            offload: true,
        };
        assert!(matches!(
            Tun::create(&cfg),
            Err(TunError::InvalidQueues { requested: 0, .. })
        ));
    }

    #[test]
    fn offload_flags() {
        let all = Offloads {
            csum: true,
            tso4: true,
            tso6: true,
            tso_ecn: true,
            uso4: true,
            uso6: true,
        };
        assert_eq!(all.flags(), 0x7f & !libc::TUN_F_UFO);
        assert_eq!(Offloads::default().flags(), 0);
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = open_error(io::Error::from_raw_os_error(libc::ENOENT), "x");
        assert!(e.to_string().contains("modprobe tun"));
        let e = set_iff_error(io::Error::from_raw_os_error(libc::EPERM), "x");
        assert!(e.to_string().contains("CAP_NET_ADMIN"));
    }
}
