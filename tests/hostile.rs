//! Hostile input: every corpus capture, damaged in many deterministic ways (bit flips, cut
//! short, bytes spliced in, lengths made absurd), goes through the whole engine. Nothing may
//! panic, and memory is bounded by the engine's limits (checked in `flow_states` and the reader
//! tests); here we check that every damaged file either reads or fails with a located error.

mod common;

use engine::pipeline::{run_sensor, NullSink, Options, SensorInput};
use synth::Rng;

fn mutate(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    if d.is_empty() {
        return d;
    }
    match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(d.len() as u64) as usize;
                d[i] ^= 1 << rng.below(8);
            }
        }
        1 => d.truncate(rng.below(d.len() as u64) as usize),
        2 => {
            let i = rng.below(d.len() as u64) as usize;
            let junk: Vec<u8> = (0..1 + rng.below(64)).map(|_| rng.next_u64() as u8).collect();
            d.splice(i..i, junk);
        }
        3 => {
            // An absurd 32-bit length somewhere (record and block lengths live at 4-aligned offsets).
            let i = (rng.below(d.len() as u64) as usize) & !3;
            if i + 4 <= d.len() {
                d[i..i + 4].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
            }
        }
        _ => {
            let i = rng.below(d.len() as u64) as usize;
            let n = (rng.below(32) as usize).min(d.len() - i);
            for b in &mut d[i..i + n] {
                *b = 0;
            }
        }
    }
    d
}

#[test]
fn damaged_corpus_files_never_panic() {
    let Some(dir) = common::corpus() else { return };
    let tmp = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hostile");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut rng = Rng::new(0xbad);
    let mut runs = 0;
    for (file, _) in common::inventory(&dir) {
        let data = std::fs::read(dir.join(&file)).unwrap();
        if data.len() > 300_000 {
            continue;
        }
        for k in 0..12 {
            let m = mutate(&mut rng, &data);
            let p = tmp.join(format!("m{k}.pcap"));
            std::fs::write(&p, &m).unwrap();
            for keep_going in [false, true] {
                let input = SensorInput { name: "h".into(), paths: vec![p.clone()], addrs: vec![] };
                let opts = Options { keep_going, threads: 1 + (k % 2), ..Options::default() };
                let r = std::panic::catch_unwind(|| run_sensor(&input, &opts, &mut NullSink, &mut |_| {}));
                let summary = r.unwrap_or_else(|_| panic!("panic on mutation {k} of {file}"));
                let s = summary.expect("only sink errors are Err");
                for f in &s.files {
                    if let Some(e) = &f.error {
                        assert!(e.contains(": at byte "), "unlocated error for {file}: {e}");
                    }
                }
                runs += 1;
            }
        }
    }
    assert!(runs > 1000, "{runs}");
}
