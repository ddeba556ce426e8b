//! TUN device I/O: opening multi-queue Linux TUN devices with offloads,
//! per-queue packet reads and writes, the virtio net header, software
//! segmentation/checksum fallbacks. Synchronous: link configuration
//! (MTU, addresses, up) is the daemon's, over rtnetlink.
//!
//! Owns every system call the dataplane makes on a TUN device and all
//! offload logic. Does not decide anything about packets (that is
//! [`crate::pipeline`]) nor spawn threads (the daemon gives each worker
//! thread one [`TunQueue`] of every device and polls them with
//! [`wait_readable`]).
//!
//! | file         | holds                                                         |
//! |--------------|---------------------------------------------------------------|
//! | `device.rs`  | [`TunConfig`], [`Tun::create`], [`Offloads`] negotiation       |
//! | `queue.rs`   | [`TunQueue`] `recv`/`send`, [`wait_readable`]                  |
//! | `vnet.rs`    | [`VnetHdr`], [`GsoType`]: the `virtio_net_hdr` codec           |
//! | `gso.rs`     | [`gso::split`], [`gso::finish_checksum`]                       |
//! | `gro.rs`     | [`gro::Coalescer`]: TCP segments into one GSO super-packet      |
//! | `error.rs`   | [`TunError`]                                                  |
//! | `sys.rs`     | the `unsafe` libc wrappers, and nothing else                  |
//!
//! # Why libc and our own vnet handling, not a TUN crate
//!
//! - `tun-tap` has no vnet header, no multi-queue, and sits on tokio-core 0.1.
//! - Crates like `tun-rs` hide the `virtio_net_hdr` or handle GSO for us by
//!   splitting and coalescing. Our pipeline needs the raw header so that a
//!   GSO super-packet read from one TUN is written to another TUN untouched
//!   (one syscall per 64 KiB instead of per 1.5 KiB), and segmented only
//!   when it must leave through a path without offloads.
//! - We need exact control of the queues: one fd per worker thread per
//!   device, non-blocking, polled together, no runtime in between.
//!
//! The libc surface is small (`open`, four `ioctl`s, `read`, `writev`,
//! `poll`) and confined to `sys.rs`.

mod device;
mod error;
pub mod gro;
pub mod gso;
mod queue;
mod sys;
mod vnet;

pub use device::{MAX_QUEUES, Offloads, Tun, TunConfig};
pub use error::TunError;
pub use queue::{MAX_POLL_FDS, RECV_BUF_LEN, Readable, TunQueue, wait_readable};
pub use vnet::{GsoType, VnetHdr};
