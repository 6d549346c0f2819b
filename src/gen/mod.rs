//! Capture generators: the World IPv6 Day demo scenario and the benchmark captures (made up,
//! or real traffic replayed), built on
//! the `synth` crate (deterministic RNG, frame builder, pcap/pcapng writers).

pub mod bench;
pub mod demo;
pub mod replay;
