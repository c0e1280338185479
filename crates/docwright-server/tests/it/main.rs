//! Integration tests: the real server on port 0, a fresh database per test, HTTP from outside.
//! Every test runs twice, on SQLite and on PostgreSQL (see `helpers::both_databases!`).

// Test code fails loudly on purpose; helpers are shared between the modules of one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

#[macro_use]
mod helpers;
mod ai_requests;
mod api_conventions;
mod auth;
mod automations;
mod billing;
mod chats;
mod client;
mod collections;
mod embeddings;
mod extraction;
mod files;
mod function_calling;
mod gateway;
mod gigachat;
mod notices;
mod openai_sdk;
mod ops;
mod projects;
mod prompt_library;
mod rbac_matrix;
mod schemathesis;
mod sync;
mod tenancy;
mod workflow_cases;
mod workflows;
