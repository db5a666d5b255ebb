//! Integration tests: one binary, a module per area (ripgrep style).

mod support;
mod tcp;
mod docs;
