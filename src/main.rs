//! The `metertwin` binary: errors are handled here, in one place, with a
//! message a person can act on and a non-zero exit.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use metertwin::cli::{Cli, CommandLine};

mod commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours on a terminal only: not in log files, CI logs or
        // `docker logs`.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let result = match cli.command.unwrap_or(CommandLine::Run(Box::new(cli.run))) {
        CommandLine::Run(args) => commands::run(*args),
        CommandLine::Registers(args) => commands::registers(args),
        CommandLine::Check(args) => commands::check(args),
        CommandLine::Scenario(args) => commands::scenario(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("metertwin: {e:#}");
            ExitCode::from(2)
        }
    }
}
