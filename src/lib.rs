//! metertwin — a software twin of the Compere KPM31 single-phase energy meter.
//!
//! The layers, from the physical world to the wire (see `ARCHITECTURE.md`):
//!
//! ```text
//! physics ──► meter ──► image ──► modbus ──► runtime / cli
//! waveforms   energy,   profile   PDUs,      clock, tasks,
//! → readings  tariffs,  maps the  framing,   sockets
//!             relay ... snapshot  transports
//! ```
//!
//! * [`physics`] — supply and load → what the metering chip measures.
//! * [`meter`] — the meter core, sans-IO: energy, tariffs, settlement,
//!   demand, prepayment, load control, relay, settings, clock.
//! * [`profile`] — data-driven model descriptions (`profiles/*.toml`).
//! * [`image`] — pure register image: a snapshot → register words, a write →
//!   a meter command.
//! * [`modbus`] — PDUs, exceptions, the one request path, and framing.
//! * [`runtime`] — owns the meters, maps simulated time to wall time and
//!   serves them.

#![allow(rustdoc::broken_intra_doc_links)] // units are written in brackets: `/// Power [W]`

pub mod cli;
pub mod image;
pub mod meter;
pub mod modbus;
pub mod physics;
pub mod profile;
pub mod runtime;
pub mod scenario;
pub mod source;
pub mod time;
