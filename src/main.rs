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
