//! Link configuration over rtnetlink: MTU, IPv4/IPv6 addresses (added,
//! and deleted by a reload) and administrative state of a link (normally one of our TUN devices), by
//! ifindex. Beside [`crate::kernel_sync`]'s route requests, the daemon's
//! other netlink client; the forwarding crate stays synchronous.
//!
//! Uses the `rtnetlink` crate (async, tokio-based): it covers exactly these
//! three requests with typed messages, and the daemon already runs tokio.
//! The netlink connection is driven inside [`configure_link`] itself (no
//! spawned task), so the call works on any tokio runtime, current-thread
//! included, and leaves nothing behind. The socket is opened in the calling
//! thread's network namespace.

use std::pin::pin;

use futures_util::future::{Either, select};
use ipnet::IpNet;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use rtnetlink::{Handle, LinkUnspec};

/// A link request failed.
#[derive(Debug)]
pub enum LinkError {
    /// The link to configure does not exist (in this network namespace).
    NotFound {
        /// The interface index.
        ifindex: u32,
    },
    /// A netlink request failed.
    Netlink {
        /// What was requested ("set MTU 1400", "add address 10.0.0.1/24").
        op: String,
        /// The interface index.
        ifindex: u32,
        /// The kernel's or the library's error.
        message: String,
    },
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::NotFound { ifindex } => write!(
                f,
                "link with ifindex {ifindex} not found: was the TUN device closed or created in \
                 another network namespace?"
            ),
            LinkError::Netlink {
                op,
                ifindex,
                message,
            } => write!(
                f,
                "netlink {op} on link {ifindex} failed: {message}; check that vcped has \
                 CAP_NET_ADMIN and the value is valid for this link"
            ),
        }
    }
}

impl std::error::Error for LinkError {}

/// Sets the MTU (and a deeper transmit queue) of link `ifindex`, makes it
/// queueless (see [`set_noqueue`]), adds `addrs` (IPv6 ones with `NODAD`,
/// so they are usable at once), then sets the link up.
///
/// Idempotent: an address that is already present is not an error, and
/// the MTU and up state are simply set again. Must run inside a tokio
/// runtime with I/O enabled.
pub async fn configure_link(ifindex: u32, mtu: u16, addrs: &[IpNet]) -> Result<(), LinkError> {
    with_handle(ifindex, |handle| async move {
        set_mtu(&handle, ifindex, mtu).await?;
        if let Err(e) = set_noqueue(&handle, ifindex).await {
            // Only start-up time and kernel memory are at stake.
            tracing::warn!(error = %e, "TUN left with the kernel's default queueing discipline");
        }
        for addr in addrs {
            add_address(&handle, ifindex, *addr).await?;
        }
        set_up(&handle, ifindex).await
    })
    .await
}

/// Changes a configured link in place: MTU `mtu`, adds `add`, deletes
/// `remove` (an address already gone is not an error).
pub async fn reconfigure_link(
    ifindex: u32,
    mtu: u16,
    add: &[IpNet],
    remove: &[IpNet],
) -> Result<(), LinkError> {
    with_handle(ifindex, |handle| async move {
        set_mtu(&handle, ifindex, mtu).await?;
        for addr in add {
            add_address(&handle, ifindex, *addr).await?;
        }
        for addr in remove {
            del_address(&handle, ifindex, *addr).await?;
        }
        Ok(())
    })
    .await
}

/// Sets link `ifindex` administratively up (e.g. `lo` in a fresh network
/// namespace). Idempotent.
pub async fn set_link_up(ifindex: u32) -> Result<(), LinkError> {
    with_handle(
        ifindex,
        |handle| async move { set_up(&handle, ifindex).await },
    )
    .await
}

/// Opens a netlink connection and runs `work` with its handle while
/// driving the connection, until `work` finishes.
async fn with_handle<F, Fut>(ifindex: u32, work: F) -> Result<(), LinkError>
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = Result<(), LinkError>>,
{
    let (connection, handle, _messages) =
        rtnetlink::new_connection().map_err(|e| LinkError::Netlink {
            op: "open a netlink socket".to_owned(),
            ifindex,
            message: e.to_string(),
        })?;
    let work = pin!(work(handle));
    match select(work, connection).await {
        Either::Left((result, _connection)) => result,
        Either::Right(((), _work)) => Err(LinkError::Netlink {
            op: "keep the netlink connection open".to_owned(),
            ifindex,
            message: "the connection closed unexpectedly".to_owned(),
        }),
    }
}

/// Packets the kernel queues on a TUN device for the daemon to read
/// (`txqueuelen`; the kernel default is 500). A burst longer than this while
/// a worker is busy is dropped by the kernel before we see it; 64-byte UDP
/// floods lost up to a third of their packets at 500.
const TX_QUEUE_LEN: u32 = 4096;

async fn set_mtu(handle: &Handle, ifindex: u32, mtu: u16) -> Result<(), LinkError> {
    let msg = LinkUnspec::new_with_index(ifindex)
        .mtu(u32::from(mtu))
        .txqueuelen(TX_QUEUE_LEN)
        .build();
    let r = handle.link().set(msg).execute().await;
    check(r, ifindex, || format!("set MTU {mtu}"), false)
}

/// Sets the root queueing discipline of link `ifindex` to `noqueue`,
/// before the link goes up. Otherwise bringing it up attaches the kernel's
/// default: on a multi-queue TUN (256 transmit queues, whatever number is
/// attached) an `mq` with one `pfifo_fast` per queue, each three rings of
/// [`TX_QUEUE_LEN`] pointers: 24 MiB of kernel memory allocated and
/// zeroed per TUN, which was most of a vcped's start-up CPU with 64 of
/// them starting on two cores (`bench/fleet.sh`, perf: `pfifo_fast_init`
/// under `dev_activate`). A TUN needs no qdisc: when the reader is behind,
/// the packets wait in the TUN's own ring per queue, sized by
/// `txqueuelen` too, and without a qdisc a packet goes straight to it.
async fn set_noqueue(handle: &Handle, ifindex: u32) -> Result<(), LinkError> {
    use futures_util::StreamExt;
    use rtnetlink::packet_core::{
        NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
    };
    use rtnetlink::packet_route::RouteNetlinkMessage;
    use rtnetlink::packet_route::tc::{TcAttribute, TcHandle, TcMessage};

    let index = i32::try_from(ifindex).map_err(|_| LinkError::NotFound { ifindex })?;
    let mut msg = TcMessage::with_index(index);
    msg.header.parent = TcHandle::ROOT;
    msg.attributes.push(TcAttribute::Kind("noqueue".to_owned()));
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewQueueDiscipline(msg));
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    let mut handle = handle.clone();
    let r = async {
        let mut replies = handle.request(req)?;
        while let Some(m) = replies.next().await {
            if let NetlinkPayload::Error(e) = m.payload {
                return Err(rtnetlink::Error::NetlinkError(e));
            }
        }
        Ok(())
    }
    .await;
    check(
        r,
        ifindex,
        || "set the root qdisc noqueue".to_owned(),
        false,
    )
}

async fn set_up(handle: &Handle, ifindex: u32) -> Result<(), LinkError> {
    let msg = LinkUnspec::new_with_index(ifindex).up().build();
    let r = handle.link().set(msg).execute().await;
    check(r, ifindex, || "set link up".to_owned(), false)
}

async fn add_address(handle: &Handle, ifindex: u32, addr: IpNet) -> Result<(), LinkError> {
    let mut req = handle
        .address()
        .add(ifindex, addr.addr(), addr.prefix_len());
    if let IpNet::V6(_) = addr {
        // No duplicate address detection: a point-to-point TUN has no
        // neighbours, and a tentative address could not be used for ~1 s.
        let msg = req.message_mut();
        msg.header.flags |= AddressHeaderFlags::Nodad;
        msg.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    let r = req.execute().await;
    check(r, ifindex, || format!("add address {addr}"), true)
}

async fn del_address(handle: &Handle, ifindex: u32, addr: IpNet) -> Result<(), LinkError> {
    // The message an add would send names the address to delete.
    let mut add = handle
        .address()
        .add(ifindex, addr.addr(), addr.prefix_len());
    let msg = add.message_mut().clone();
    let r = handle.address().del(msg).execute().await;
    if let Err(rtnetlink::Error::NetlinkError(m)) = &r
        && -m.raw_code() == libc::EADDRNOTAVAIL
    {
        return Ok(());
    }
    check(r, ifindex, || format!("delete address {addr}"), false)
}

/// Maps a request's outcome; `EEXIST` counts as success when `exists_ok`.
fn check(
    r: Result<(), rtnetlink::Error>,
    ifindex: u32,
    op: impl FnOnce() -> String,
    exists_ok: bool,
) -> Result<(), LinkError> {
    let e = match r {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    if let rtnetlink::Error::NetlinkError(msg) = &e {
        match -msg.raw_code() {
            libc::EEXIST if exists_ok => return Ok(()),
            libc::ENODEV => return Err(LinkError::NotFound { ifindex }),
            _ => {}
        }
    }
    Err(LinkError::Netlink {
        op: op(),
        ifindex,
        message: e.to_string(),
    })
}
