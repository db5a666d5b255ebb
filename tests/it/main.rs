//! Integration tests: one binary, a module per area (ripgrep style).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod docs;
mod support;
mod tcp;
