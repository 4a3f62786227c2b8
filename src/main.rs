//! `tollgate`: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;
use tollgate::cli::{Cli, Command};

fn main() -> ExitCode {
    tollgate::logs::init();
    let cli = Cli::parse();
    let Some(path) = cli.config.clone() else {
        eprintln!("tollgate: --config PATH is required (a LiteLLM config.yaml)");
        return ExitCode::from(2);
    };
    match cli.command {
        Some(Command::Check) => tollgate::check(&path),
        None => match tollgate::server::run(&cli, &path) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tollgate: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// jemalloc, not glibc's malloc: a long-running proxy must give back what a burst of streams took.
/// `cargo bench --bench bursts` (README, "Memory under stream bursts"; 10 bursts of 2,000 concurrent
/// streams, RSS 2 s after each): glibc's malloc kept 188 MB after one burst and 506 MB after ten, and
/// never gave it back; mimalloc held 332-406 MB; jemalloc with the options below fell back to 27-32 MB
/// after every burst (RSS(10)/RSS(1) = 1.14-1.15). In the load bench it was as fast as glibc or faster
/// (21.5-22.3k vs 20.7-20.9k req/s, 0.051-0.053 vs 0.056-0.057 CPU s per 1000 requests).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its first allocation (tikv-jemalloc-sys prefixes the symbol; the
/// `_RJEM_MALLOC_CONF` environment variable still overrides them). A background thread purges unused
/// pages, so an idle gateway shrinks too (without it, jemalloc purges only while it allocates: 200 MB
/// stayed after a burst); freed pages go back to the kernel after about 1 s instead of 10 s.
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: Option<&'static u8> = Some(&JEMALLOC_OPTIONS[0]);

/// The string [`MALLOC_CONF`] points to, NUL-terminated for C.
const JEMALLOC_OPTIONS: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";
