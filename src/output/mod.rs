//! Printers: terminal tables, JSON, JSON Lines and CSV. They only format what the engine
//! produced; every string that could come from a packet goes through [`term::clean`].

pub mod addr;
pub mod answers;
pub mod events;
pub mod export;
pub mod fleet;
pub mod flows;
pub mod health;
pub mod peers;
pub mod report;
pub mod snapshot;
pub mod summary;
pub mod term;
pub mod timeline;
