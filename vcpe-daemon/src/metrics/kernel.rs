//! Kernel route sync metrics (`[kernel] route_sync`): the same figures as
//! the `kernel routes` lines of `vcpectl stats`, labelled by the TUN the
//! routes point at and the kernel table. Absent when route sync is off.

use std::borrow::Cow;

use vcpe_api::KernelSyncStats;

use super::render::Family;

/// The kernel sync families of one scrape.
pub(super) fn families(k: &KernelSyncStats) -> Vec<Family<'_>> {
    let labels = || {
        vec![
            ("interface", Cow::Borrowed(k.interface.as_str())),
            ("table", Cow::Owned(k.table.to_string())),
        ]
    };
    vec![
        Family::gauge(
            "vcpe_kernel_routes_installed",
            "Our routes in the kernel table now (as the kernel reports them).",
        )
        .sample(labels(), k.installed as u64),
        Family::gauge(
            "vcpe_kernel_routes_missing",
            "Wanted routes not in the kernel now: being added, failed, or waiting for the TUN's link.",
        )
        .sample(labels(), k.missing as u64),
        Family::gauge(
            "vcpe_kernel_routes_failed",
            "Routes whose last netlink request failed (retried).",
        )
        .sample(labels(), k.failed as u64),
        Family::gauge(
            "vcpe_kernel_routes_foreign_conflicts",
            "Prefixes the kernel already routes by another protocol, left alone.",
        )
        .sample(labels(), k.foreign_conflicts as u64),
        Family::counter(
            "vcpe_kernel_route_errors",
            "Failed netlink route requests since start.",
        )
        .sample(labels(), k.errors_total),
        Family::counter(
            "vcpe_kernel_routes_lost",
            "Our routes found missing from the kernel since start (deleted by someone else, flushed with the TUN's link).",
        )
        .sample(labels(), k.lost_total),
        Family::counter(
            "vcpe_kernel_routes_resynced",
            "Lost routes installed again since start.",
        )
        .sample(labels(), k.resynced_total),
        Family::counter(
            "vcpe_kernel_resyncs",
            "Full comparisons with the kernel's table since start (after a notification, and periodically).",
        )
        .sample(labels(), k.resyncs_total),
        Family::gauge(
            "vcpe_kernel_link_up",
            "1 if the TUN's link is up (routes are only installed while it is).",
        )
        .sample(labels(), u64::from(k.link_up)),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::render::tests::{scrape, stats};
    use super::super::render::{Format, render};
    use vcpe_api::KernelSyncStats;

    #[test]
    fn kernel_sync_figures_are_exported_when_on() {
        let mut s = scrape();
        let mut st = stats();
        st.kernel_sync = Some(KernelSyncStats {
            interface: "vcpe0".into(),
            table: 254,
            protocol: 201,
            installed: 99_998,
            foreign_conflicts: 1,
            failed: 0,
            errors_total: 3,
            missing: 2,
            lost_total: 100_000,
            resynced_total: 99_998,
            resyncs_total: 4,
            link_up: true,
        });
        s.stats = Ok(st);
        let text = render(s.clone(), Format::Prometheus).unwrap();
        for line in [
            "vcpe_kernel_routes_installed{interface=\"vcpe0\",table=\"254\"} 99998",
            "vcpe_kernel_routes_missing{interface=\"vcpe0\",table=\"254\"} 2",
            "vcpe_kernel_routes_lost_total{interface=\"vcpe0\",table=\"254\"} 100000",
            "vcpe_kernel_routes_resynced_total{interface=\"vcpe0\",table=\"254\"} 99998",
            "vcpe_kernel_resyncs_total{interface=\"vcpe0\",table=\"254\"} 4",
            "vcpe_kernel_route_errors_total{interface=\"vcpe0\",table=\"254\"} 3",
            "vcpe_kernel_link_up{interface=\"vcpe0\",table=\"254\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        // Route sync off: no kernel family at all.
        let off = render(scrape(), Format::Prometheus).unwrap();
        assert!(!off.contains("vcpe_kernel_"), "{off}");
    }
}
