//! Any bytes as a frame of every supported link type: decoding must not panic, and repeated
//! fragments must stay within the reassembly bounds.
#![no_main]
use libfuzzer_sys::fuzz_target;

const LINKTYPES: [u32; 18] = [0, 1, 9, 12, 50, 51, 101, 104, 105, 108, 113, 117, 127, 192, 228, 229, 239, 276];

fuzz_target!(|data: &[u8]| {
    let mut dec = engine::decode::Decoder::default();
    for (i, lt) in LINKTYPES.iter().enumerate() {
        let d = dec.decode(i as i64, *lt, data);
        assert!(d.payload.len() <= data.len().max(65_535));
    }
    // Feed the same bytes as consecutive frames too (fragments meeting their siblings).
    for t in 0..4 {
        let _ = dec.decode(10 + t, 1, data);
    }
});
