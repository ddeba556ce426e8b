//! The vcpe BGP-4 speaker: wire codec, sans-IO session FSM, RIBs and best
//! path selection.
//!
//! Owns the protocol. Does not own sockets' lifetime policy or the FIB: the
//! daemon feeds bytes and time in and takes best-route changes out.
