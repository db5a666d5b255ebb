//! Integration tests: one binary, one module per concern (ripgrep style).
//! Each test starts the built `metertwin` with `--tcp 127.0.0.1:0` and reads
//! its JSON ready line for the endpoints (no fixed ports, no start-up sleeps).

// Test helpers fail loudly: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod clients;
mod docs;
mod equivalence;
mod fuzz;
mod hostile;
mod interop;
mod logs;
mod persistence;
mod rtu_pty;
mod scenarios;
mod support;
mod tcp;
mod tcp_limits;
