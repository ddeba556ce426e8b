//! The routes the FIB holds and where they come from.

pub mod bgp_feed;
pub mod bgp_routes;
