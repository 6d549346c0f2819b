//! v6watch: what IPv6 sensors see. The binary is thin: parse arguments, run the command,
//! map the outcome to an exit code (0 ok, 1 findings at or above --fail-on, 2 usage or input
//! errors). A closed pipe (`v6watch flows ... | head`) is success, not an error.
#![forbid(unsafe_code)]

/// jemalloc instead of the system allocator: records, extractor buffers and events are made on
/// the workers and freed on the merging thread, and glibc spent 11% of all CPU on it (`perf
/// record`, `flows --threads 2` on the 1 GB benchmark: `_int_malloc`, `unlink_chunk`,
/// `malloc_consolidate`, `_int_free`, `cfree`). Measured on that file (8 alternating runs, best):
/// glibc 0.90 s / 0.62 s (1 / 2 threads, peak RSS 153 / 167 MB), jemalloc 0.87 / 0.53 s
/// (176 / 204 MB), mimalloc 0.96 / 0.47 s but 212 / 305 MB — over the 256 MiB budget.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod cli;
mod commands;
mod config;
mod dataset;
mod filter;
mod gen;
mod live;
mod output;
mod probe;
mod records;

use std::process::ExitCode;

/// The engine's notices (a fallback it took, such as reading on one thread when a task limit
/// refuses its workers) on standard error: the engine never prints, it logs; dependencies'
/// logs are left out.
struct Notices;

impl log::Log for Notices {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn && m.target().starts_with("v6watch_engine")
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("v6watch: {}", r.args());
        }
    }
    fn flush(&self) {}
}

fn main() -> ExitCode {
    if log::set_logger(&Notices).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    let args = match cli::parse() {
        Ok(a) => a,
        Err(code) => return code,
    };
    match commands::run(args) {
        Ok(code) => code,
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("v6watch: {e:#}");
            ExitCode::from(2)
        }
    }
}
