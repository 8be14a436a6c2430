//! Flows: what combines use cases, in one thin layer above them.
//! - [`schedule`]: the schedule's tick, which only fans out: one job per due account, read
//!   from the sharded due index.
//! - [`worker`]: one job = discovery of its account, then auto-add where its local time has
//!   come; the same code runs SQS's events (the `discovery` function) and drains the
//!   in-process queue (`cargo run`, tests).

pub mod schedule;
pub mod worker;
