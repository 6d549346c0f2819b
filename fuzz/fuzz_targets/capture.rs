//! Any bytes as a capture file: the reader must return frames or errors, never panic or loop,
//! in strict and in --keep-going mode.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for keep_going in [false, true] {
        let src = Box::new(std::io::Cursor::new(data.to_vec()));
        let Ok(mut r) = engine::capture::Reader::from_read("fuzz".into(), src, keep_going) else { continue };
        // Every call either consumes input or ends, so this is bounded by the input size.
        for _ in 0..(data.len() + 16) {
            match r.next_frame() {
                Ok(Some(f)) => assert!(f.data.len() <= engine::capture::MAX_RECORD),
                Ok(None) => break,
                Err(_) => {}
            }
        }
    }
});
