//! Integration tests of the file-management service against the emulator: every route through
//! the function's real router (sample API Gateway events), every consumer through the shared
//! batch processor with real queues, buckets and table. Each test builds its own stack, so tests
//! run in parallel in any order.

#[path = "../support/mod.rs"]
mod support;

mod files;
mod reports;
mod security;
