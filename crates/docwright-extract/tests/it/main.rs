//! Integration tests of docwright-extract: one binary, one module per feature (CONVENTIONS 11).
//! Every fixture is built in code (`fixtures`); the shared corpus is only used by the benchmark.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // Tests fail loudly on purpose.

mod fixtures;
mod images;
mod pdf;
mod thumbnails;
