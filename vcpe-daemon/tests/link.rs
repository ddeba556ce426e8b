//! `vcpe_daemon::link` against real TUN devices, each test in a fresh
//! network namespace of its own thread (`unshare(CLONE_NEWNET)`): nothing
//! touches the host's namespace. Skipped, with a message, when not root or
//! without `/dev/net/tun`.

use std::io;
use std::process::Command;

use vcpe_daemon::link::{LinkError, configure_link, set_link_up};
use vcpe_forwarding::tun::{Tun, TunConfig};

/// `lo` is always ifindex 1 in a new network namespace.
const LO_IFINDEX: u32 = 1;

/// Why this machine cannot run the tests, if it cannot.
fn skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (needs CAP_NET_ADMIN and unshare)");
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun missing (modprobe tun)");
    }
    None
}

/// Runs `f` with a current-thread runtime in a new thread inside a new
/// network namespace (the netlink socket opens in that thread, hence in
/// its namespace), or prints why it is skipped.
fn in_netns(test: &str, f: impl FnOnce(&tokio::runtime::Runtime) + Send + 'static) {
    if let Some(why) = skip_reason() {
        eprintln!("skipping {test}: {why}");
        return;
    }
    let joined = std::thread::spawn(move || {
        // SAFETY: unshare only changes this thread's namespace membership;
        // no pointers are involved.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET): {}",
            io::Error::last_os_error()
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(set_link_up(LO_IFINDEX)).expect("lo up");
        f(&rt);
    })
    .join();
    if let Err(panic) = joined {
        std::panic::resume_unwind(panic);
    }
}

/// `ip ARGS` in this thread's namespace, its stdout.
fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_tun_gets_its_mtu_addresses_and_goes_up_and_again_is_no_error() {
    in_netns("link_configure", |rt| {
        let name = format!("vl{}a", std::process::id());
        let tun = Tun::create(&TunConfig {
            name: name.clone(),
            queues: 1,
            offload: true,
        })
        .expect("create TUN");
        let addrs = [
            "10.9.0.1/24".parse().expect("v4"),
            "fd09::1/64".parse().expect("v6"),
        ];
        rt.block_on(configure_link(tun.ifindex(), 1400, &addrs))
            .expect("configure link");
        let link = ip(&["-o", "link", "show", "dev", &name]);
        assert!(link.contains("mtu 1400") && link.contains(",UP"), "{link}");
        assert!(link.contains("qlen 4096"), "{link}");
        let a = ip(&["-o", "addr", "show", "dev", &name]);
        assert!(a.contains("10.9.0.1/24") && a.contains("fd09::1/64"), "{a}");
        // Configuring again is a no-op, not an error.
        rt.block_on(configure_link(tun.ifindex(), 1400, &addrs))
            .expect("idempotent");
    });
}

#[test]
fn a_missing_link_is_named_as_such() {
    in_netns("link_missing", |rt| {
        let err = rt
            .block_on(configure_link(99_999, 1400, &[]))
            .expect_err("no such link");
        assert!(
            matches!(err, LinkError::NotFound { ifindex: 99_999 }),
            "{err}"
        );
        assert!(err.to_string().contains("not found"), "{err}");
    });
}
