//! [`TunError`]: why opening, attaching to or configuring a TUN device
//! failed, each message ending in what the operator should do next.

use std::io;

/// An error from [`super::Tun::create`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TunError {
    /// `/dev/net/tun` does not exist.
    #[error(
        "/dev/net/tun missing: load the tun module (modprobe tun) or create the node \
         (mknod /dev/net/tun c 10 200)"
    )]
    DeviceMissing,

    /// The caller lacks `CAP_NET_ADMIN` (or the device belongs to another user).
    #[error(
        "permission denied {op} TUN device {name:?}: vcped needs CAP_NET_ADMIN \
         (run as root or grant it with setcap cap_net_admin+ep)"
    )]
    PermissionDenied {
        /// What was attempted ("opening", "attaching to", ...).
        op: &'static str,
        /// The device name.
        name: String,
    },

    /// The configured name cannot be an interface name.
    #[error(
        "invalid TUN name {name:?}: {reason}; choose 1 to 15 characters without '/', ':' or whitespace"
    )]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it is rejected.
        reason: &'static str,
    },

    /// The queue count is out of range.
    #[error("invalid TUN queue count {requested}: use 1 to {max} queues (one per worker thread)")]
    InvalidQueues {
        /// The count asked for.
        requested: usize,
        /// The most a TUN device takes.
        max: usize,
    },

    /// An existing device with this name has incompatible flags.
    #[error(
        "TUN device {name:?} exists with other flags (a TAP, or not multi-queue): delete it \
         (ip link del {name}) or recreate it with `ip tuntap add {name} mode tun multi_queue`"
    )]
    FlagsMismatch {
        /// The device name.
        name: String,
    },

    /// All queues of an existing device are attached elsewhere.
    #[error(
        "TUN device {name:?} is busy (its queues are held by another process): stop that \
         process or configure another name"
    )]
    Busy {
        /// The device name.
        name: String,
    },

    /// Any other failing system call on the TUN device.
    #[error(
        "{op} on TUN device {name:?} failed: {source}; check `dmesg` and that the kernel has TUN support"
    )]
    Io {
        /// The call (e.g. "TUNSETIFF").
        op: &'static str,
        /// The device name.
        name: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}
