//! glibc malloc tuning for a daemon whose memory is a few very large
//! tables (the RIB's entry arrays and hash indexes, the FIB's arrays).
//!
//! glibc serves a block of at least `M_MMAP_THRESHOLD` bytes from a mapping
//! of its own, but by default it raises that threshold (up to 32 MiB)
//! whenever such a block is freed: after the first growth of a big table
//! its next, larger copies come from the heap instead, so every growth
//! copies the table and keeps the old and the new copy resident at once,
//! and memory freed when a full-table peer goes away stays in the heap.
//! A fixed threshold keeps big blocks in their own mappings: a table grows
//! by `mremap` (no copy), and a freed block goes back to the system at
//! once.
//!
//! Measured with `bench/bgp.sh` (ONLY=vcped, binaries alternated): 100k
//! routes 4-10 bytes a route less at the peak, 1M 3-4 less; about 5% more
//! time and CPU for a table load (fresh mappings are page-faulted in),
//! which leaves vcped at about half of BIRD's time.

/// Blocks from this size up get their own mapping (the default's starting
/// value is 128 KiB; 256 KiB keeps the 64 KiB read buffers and most
/// per-batch vectors on the heap).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 256 * 1024;

/// Fixes glibc's mmap threshold unless the environment sets one
/// (`MALLOC_MMAP_THRESHOLD_` or a `glibc.malloc.mmap_threshold` tunable,
/// which glibc applies itself). Call before any thread starts.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set_by_env = std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
            || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("mmap_threshold"));
        if set_by_env {
            return;
        }
        // SAFETY: mallopt only sets an allocator parameter; it takes no
        // pointers, and no other thread is allocating yet.
        let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
        if ok != 1 {
            tracing::debug!("mallopt(M_MMAP_THRESHOLD) refused; glibc's default applies");
        }
    }
}
