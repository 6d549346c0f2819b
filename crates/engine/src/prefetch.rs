//! Cache prefetch hints: the one use of `unsafe` in the engine.
//!
//! Why: before a group of frames is processed, [`crate::flow::FlowTable::warm`] brings in the
//! cache lines of their flows so the misses overlap. Done with ordinary loads, each load that
//! misses blocks the CPU's in-order retirement, so only a few flows' misses were in flight at
//! once (the profile put ~13 % of all samples on that wait). A prefetch instruction never
//! blocks. Measured on the 1 GB benchmark (`flows --format jsonl`, runs alternating): two
//! threads, best of 10 0.45 → 0.43 s, median 0.51 → 0.46 s; one thread, mean user time of 12
//! runs 0.713 → 0.663 s (a second series of 8: 0.604 → 0.586 s).
//!
//! Why it is sound: `PREFETCHT0` is a hint. It never faults, whatever the address (even
//! dangling or null), writes nothing and returns nothing; no Rust value is read through it. The
//! intrinsic is an `unsafe fn` only because it is declared `#[target_feature(enable = "sse")]`,
//! and SSE is part of the x86_64 baseline. On other architectures this is a no-op.
#![allow(unsafe_code)]

/// Asks the CPU to load the cache line holding `p` (no effect on correctness).
#[inline(always)]
fn line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: see the module documentation: a prefetch cannot fault or change memory, and SSE is
    // always present on x86_64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Prefetches every cache line of `len` bytes at `p`.
#[inline(always)]
pub(crate) fn bytes(p: *const u8, len: usize) {
    let skew = p as usize & 63;
    let mut off = 0;
    while off < len + skew {
        // Pointer arithmetic only, never dereferenced.
        line(p.wrapping_sub(skew).wrapping_add(off));
        off += 64;
    }
}
