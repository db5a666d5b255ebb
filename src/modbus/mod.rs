//! Modbus: PDUs and exceptions, the one request path every transport shares,
//! and the transports. Thin: no tariff or prepayment logic here; only unit
//! routing, the register image, and the mapping of errors to exception codes.
//!
//! ```text
//!  serial port ─┐
//!  pty ─────────┼─ rtu::RtuServer (decoder, CRC, timing) ─┐
//!  RTU over TCP ┘                                          ├─ Station::handle ─ image ─ meters
//!  TCP ──────────── tcp (MBAP) ────────────────────────────┘
//! ```

pub mod pdu;
pub mod rtu;
pub mod serial;
pub mod station;
pub mod tcp;
#[cfg(test)]
mod tcp_fixtures;
#[cfg(test)]
pub(crate) mod testing;

pub use pdu::{Exception, Request};
pub use station::{Reply, Station, UnknownUnit};

/// Resolves once `shutdown` is true or its sender is gone (one watcher per
/// connection or session, shared by TCP and RTU).
pub(crate) async fn stopped(mut shutdown: tokio::sync::watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}
