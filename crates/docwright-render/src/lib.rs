//! Rendering (SPEC W2 step 5E, N3): one typed document model, written as DOCX, PDF, XLSX, CSV,
//! PPTX, HTML, Markdown, JSON and TXT.
//!
//! [`model`] is the document every format is rendered from, read from the workflow's JSON or
//! built in Rust. This crate knows no database, no HTTP, no AI and no tenant: a document goes in,
//! files come out, synchronously.

pub mod model;
