//! Analyses over finished records: plain functions and accumulators fed with `model` records
//! (flows and application events), testable without any capture. Nothing here sees packets.

pub mod addr;
pub mod health;
pub mod indicators;
pub mod oui;
pub mod peers;
pub mod stats;
pub mod timeline;
