//! Integration tests of docwright-render: one binary, one module per concern (CONVENTIONS 11).
//! Every fixture is built in code (`fixtures`); external tools are found by `tools`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // Tests fail loudly on purpose.

mod fixtures;
mod hostile;
mod office;
mod pictures;
mod readers;
mod roundtrip;
mod tools;
