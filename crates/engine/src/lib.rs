//! The v6watch engine: capture input, packet decoding, flow tracking and the pipeline that
//! joins them. Stages depend only on the ones before them:
//! `capture` → `decode` → `flow` → `pipeline`, with `model` as the owned vocabulary they share.
// `deny`, not `forbid`: `prefetch` issues cache prefetch hints (why and why sound: there).
#![deny(unsafe_code)]

pub mod analysis;
pub mod analyze;
pub mod beside;
pub mod capture;
pub mod classify;
pub mod columns;
pub mod decode;
pub mod enrich;
pub mod extract;
pub mod flow;
pub mod model;
pub mod names;
pub mod pipeline;
mod prefetch;
pub mod schema;
pub mod sensor;
pub mod source;
