//! Analyses over finished records: plain functions and accumulators fed with `model` records
//! (flows and application events), testable without any capture. Nothing here sees packets.

pub mod health;
pub mod stats;
