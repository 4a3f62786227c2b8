//! The command line, in LiteLLM's spirit: `tollgate --config F [--host H] [--port P]`, `tollgate check`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Tollgate: an OpenAI-compatible LLM gateway that reads LiteLLM's config.yaml.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about)]
pub struct Cli {
    /// LiteLLM config.yaml to serve.
    #[arg(long, short = 'c', env = "TOLLGATE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0", env = "TOLLGATE_HOST")]
    pub host: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 4100, env = "TOLLGATE_PORT")]
    pub port: u16,
    /// Where SQLite files live (also TOLLGATE_STATE_DIR, or systemd's STATE_DIRECTORY).
    #[arg(long, env = "TOLLGATE_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long, env = "TOLLGATE_THREADS")]
    pub threads: Option<usize>,
    /// Seconds that in-flight requests get to finish on SIGTERM.
    #[arg(long, default_value_t = 30, env = "TOLLGATE_GRACE_PERIOD")]
    pub grace_period: u64,
    /// Seconds an idle keep-alive client connection is kept open (LiteLLM's `--keepalive_timeout`).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..), env = "TOLLGATE_KEEPALIVE_TIMEOUT")]
    pub keepalive_timeout: u64,
    /// Seconds a client has to send a whole request body, and the longest a write to a client may block.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..), env = "TOLLGATE_CLIENT_TIMEOUT")]
    pub client_timeout: u64,
    /// Client connections open at once; the next one is refused with 503.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..), env = "TOLLGATE_MAX_CONNECTIONS")]
    pub max_connections: u64,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a config file: print every error with its key path, exit non-zero if there is one.
    Check,
}

impl Cli {
    /// The state directory: the flag, else systemd's `STATE_DIRECTORY`, else `./state`.
    pub fn state_dir(&self) -> PathBuf {
        if let Some(d) = &self.state_dir {
            return d.clone();
        }
        // systemd may pass several, colon-separated: the first is ours.
        std::env::var("STATE_DIRECTORY")
            .ok()
            .and_then(|v| v.split(':').next().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("state"))
    }
}
