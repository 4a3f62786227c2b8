//! Tollgate: an LLM gateway on Pingora that serves OpenAI's API from a LiteLLM config.yaml.
//!
//! One request's way (see ../shared/design.md for the full map):
//!
//! 0. [`front`] reads the request head before Pingora does: connection cap (503), idle keep-alive and head
//!    deadlines (408), size and framing checks (431/400), all answered as OpenAI-shaped JSON; it hands
//!    Pingora exactly one request at a time, so pipelined requests are answered in order.
//! 1. `new_ctx` loads the live [`reload::Snapshot`] once: a SIGHUP reload changes nothing for a request
//!    in flight.
//! 2. `request_filter` ([`proxy::request`]) matches the route (404/405), checks the master key in
//!    constant time (401), answers admin and health routes, reads the body up to
//!    `max_request_size_mb` (413), parses it once with [`tollgate_filters::openai::RequestView`] (400),
//!    finds the model group (400 naming the model) and picks a deployment ([`router`]).
//! 3. [`proxy::upstream`] translates the body for the provider ([`tollgate_filters::translate_request`]),
//!    connects through Pingora's connector (async DNS, TLS with SNI, pooled connections, h2 where the
//!    provider offers it), sends the body whatever its size, and relays the answer: JSON whole (a 200 that
//!    is not JSON is the provider's failure, 502, retried), SSE event by event once the first event is
//!    translated (a stream that fails before it is retried like a 5xx); a client that leaves closes the
//!    provider's connection.
//! 4. `logging` ([`proxy::logging`]) records the outcome.
//!
//! Errors are [`error::Error`]: each knows its status and renders OpenAI's `{"error": {...}}`.

pub mod admin;
pub mod cli;
pub mod config;
pub mod cost;
pub mod error;
pub mod front;
pub mod keys;
pub mod logs;
pub mod metrics;
pub mod proxy;
pub mod reload;
pub mod router;
pub mod server;
pub mod spend;
pub mod upstream;

use std::path::Path;
use std::process::ExitCode;

/// `tollgate check --config F`: prints every error with its key path; exit 1 when there is one.
pub fn check(path: &Path) -> ExitCode {
    match config::load(path) {
        Ok(config) => {
            for w in &config.warnings {
                println!("warning: {w}");
            }
            let created = 0;
            if let Err(errors) = reload::Snapshot::build(config, None, created) {
                for e in errors {
                    println!("error: {e}");
                }
                return ExitCode::FAILURE;
            }
            println!("{}: ok", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            for line in &e.errors {
                println!("error: {line}");
            }
            ExitCode::FAILURE
        }
    }
}
