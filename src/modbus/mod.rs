//! Modbus: PDUs and exceptions, the one request path every transport shares,
//! and the transports. Thin: no tariff or prepayment logic here; only unit
//! routing, the register image, and the mapping of errors to exception codes.

pub mod pdu;
pub mod station;
pub mod tcp;

pub use pdu::{Exception, Request};
pub use station::{Reply, Station, UnknownUnit};
