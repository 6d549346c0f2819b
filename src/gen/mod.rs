//! Capture generators: the World IPv6 Day demo scenario and the benchmark capture, built on
//! the `synth` crate (deterministic RNG, frame builder, pcap/pcapng writers).

pub mod bench;
pub mod demo;
