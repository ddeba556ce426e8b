//! Kernel route sync's ear on the kernel: an rtnetlink socket subscribed
//! to route (IPv4, IPv6) and link notifications, reduced to what kernel
//! sync must react to ([`Notice`]): a route of ours deleted, the TUN's
//! link going up or down, notifications lost to a full socket buffer.
//!
//! [`classify`] is pure (one message in, at most one notice out); the
//! task only reads the socket and hands notices to a callback. It has its
//! own socket, apart from the one that sends our requests, so our own
//! adds' notifications never queue behind requests.

use futures_util::StreamExt;
use ipnet::IpNet;
use rtnetlink::constants::{RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE, RTMGRP_LINK};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::LinkFlags;
use rtnetlink::sys::{AsyncSocket, SocketAddr};

use super::netlink::Route;

/// Kernel receive buffer asked for the notification socket: a link bounce
/// of 100k IPv6 routes is 100k notifications.
const RECEIVE_BUFFER: usize = 8 << 20;

/// What a notification means for kernel sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// A route of our protocol in our table was deleted.
    RouteGone(IpNet),
    /// The TUN's link is now up (`true`) or down; or it was deleted
    /// (`false`).
    Link(bool),
    /// The socket buffer overflowed: notifications were lost.
    Overrun,
}

/// The notice in `msg`, if it concerns our `table`, `protocol` and TUN
/// (`oif`).
pub fn classify(
    msg: &NetlinkMessage<RouteNetlinkMessage>,
    table: u32,
    protocol: u8,
    oif: u32,
) -> Option<Notice> {
    match &msg.payload {
        NetlinkPayload::Overrun(_) => Some(Notice::Overrun),
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelRoute(m)) => {
            let r = Route::from_message(m)?;
            (r.protocol == protocol && r.table == table).then_some(Notice::RouteGone(r.prefix))
        }
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) if l.header.index == oif => {
            Some(Notice::Link(l.header.flags.contains(LinkFlags::Up)))
        }
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) if l.header.index == oif => {
            Some(Notice::Link(false))
        }
        _ => None,
    }
}

/// Opens the notification socket and returns the task that reads it,
/// calling `on` for each notice. The task ends when the socket does (an
/// unrecoverable error; the caller's periodic resync remains).
pub fn listen(
    table: u32,
    protocol: u8,
    oif: u32,
    mut on: impl FnMut(Notice) + Send + 'static,
) -> std::io::Result<impl Future<Output = ()> + Send> {
    let (mut connection, _handle, mut messages) = rtnetlink::new_connection()?;
    let socket = connection.socket_mut().socket_mut();
    // Best effort: the kernel caps it at net.core.rmem_max; an overrun is
    // noticed and answered with a resync.
    let _ = socket.set_rx_buf_sz(RECEIVE_BUFFER);
    socket.bind(&SocketAddr::new(
        0,
        RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE,
    ))?;
    Ok(async move {
        let read = async move {
            while let Some((msg, _)) = messages.next().await {
                if let Some(n) = classify(&msg, table, protocol, oif) {
                    on(n);
                }
            }
        };
        futures_util::future::select(Box::pin(read), Box::pin(connection)).await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_core::NetlinkHeader;
    use rtnetlink::packet_route::AddressFamily;
    use rtnetlink::packet_route::link::LinkMessage;
    use rtnetlink::packet_route::route::{
        RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteType,
    };

    fn wrap(m: RouteNetlinkMessage) -> NetlinkMessage<RouteNetlinkMessage> {
        NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::InnerMessage(m))
    }

    fn route(protocol: u8, table: u8) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header = RouteHeader {
            address_family: AddressFamily::Inet,
            destination_prefix_length: 16,
            table,
            protocol: RouteProtocol::from(protocol),
            kind: RouteType::Unicast,
            ..RouteHeader::default()
        };
        m.attributes.push(RouteAttribute::Destination(
            std::net::IpAddr::from([10, 9, 0, 0]).into(),
        ));
        m
    }

    fn link(index: u32, flags: LinkFlags) -> LinkMessage {
        let mut l = LinkMessage::default();
        l.header.index = index;
        l.header.flags = flags;
        l
    }

    #[test]
    fn only_our_deleted_routes_and_our_links_are_news() {
        let c = |m| classify(&wrap(m), 254, 201, 7);
        assert_eq!(
            c(RouteNetlinkMessage::DelRoute(route(201, 254))),
            Some(Notice::RouteGone("10.9.0.0/16".parse().unwrap()))
        );
        assert_eq!(c(RouteNetlinkMessage::DelRoute(route(4, 254))), None);
        assert_eq!(c(RouteNetlinkMessage::DelRoute(route(201, 100))), None);
        assert_eq!(c(RouteNetlinkMessage::NewRoute(route(201, 254))), None);
        assert_eq!(
            c(RouteNetlinkMessage::NewLink(link(
                7,
                LinkFlags::Up | LinkFlags::Running
            ))),
            Some(Notice::Link(true))
        );
        assert_eq!(
            c(RouteNetlinkMessage::NewLink(link(7, LinkFlags::empty()))),
            Some(Notice::Link(false))
        );
        assert_eq!(
            c(RouteNetlinkMessage::DelLink(link(7, LinkFlags::Up))),
            Some(Notice::Link(false))
        );
        assert_eq!(
            c(RouteNetlinkMessage::NewLink(link(8, LinkFlags::Up))),
            None
        );
        let overrun =
            NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::Overrun(vec![]));
        assert_eq!(classify(&overrun, 254, 201, 7), Some(Notice::Overrun));
    }
}
