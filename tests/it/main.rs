//! Integration tests: one binary, one module per concern. Each test starts
//! the built `metertwin` with `--tcp 127.0.0.1:0` and reads its JSON ready
//! line for the endpoints (no fixed ports, no start-up sleeps).

// Test helpers fail loudly: a panic is the test failing.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod clients;
mod equivalence;
mod interop;
mod rtu_pty;
mod support;
mod tcp_limits;
