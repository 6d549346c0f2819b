//! Any bytes as a line of a stored flow record (`flows --format jsonl`): reading must not
//! panic, and a line it accepts is a consistent record (both endpoints of one IP version, a
//! duration that is not negative, a uid and history safe to write unescaped).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    if let Ok((_, r)) = engine::schema::read_flow(line) {
        assert_eq!(r.orig_h.version, r.resp_h.version);
        assert!(r.last_ts >= r.ts);
        assert!(r.uid.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(r.history.bytes().all(|b| b.is_ascii_alphabetic() || b == b'^'));
    }
});
