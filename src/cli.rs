//! Command-line interface definitions (clap). The help text is generated
//! from these definitions, so docs and behaviour do not drift.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "metertwin",
    version,
    about = "A software twin of the Compere KPM31 energy meter, served over Modbus"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CommandLine>,
}

#[derive(Debug, Subcommand)]
pub enum CommandLine {
    /// Run twin meters and serve them over Modbus (the default).
    Run(RunArgs),
    /// Print a profile's register map.
    Registers(RegistersArgs),
    /// Validate profile and scenario files; exit 0 when all are valid.
    Check(CheckArgs),
    /// Run scenarios headless, as fast as possible: exit 0 when every
    /// expectation holds, 1 when one fails, 2 when a scenario is invalid.
    Scenario(ScenarioArgs),
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Built-in profile name (kpm31, kpm31c) or path to a profile TOML file.
    #[arg(long, default_value = "kpm31")]
    pub profile: String,
    /// Modbus TCP listen address; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:5020")]
    pub tcp: SocketAddr,
    /// Modbus address (unit id) of the meter [default: the profile's, 1].
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=247))]
    pub address: Option<u8>,
    /// Simulated time runs FACTOR× real time [default: 1, or the
    /// scenario's speed with --scenario].
    #[arg(long, value_parser = parse_speed)]
    pub speed: Option<f64>,
    /// Play this scenario file: its meters replace the default one, its
    /// loads and events drive them, expectations are reported in the log.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Seed of the meter's random processes (calibration error, noise).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Start the meter's clock at this local time ("YYYY-MM-DD HH:MM:SS")
    /// [default: the computer's local time].
    #[arg(long, value_parser = parse_datetime)]
    pub start: Option<chrono::NaiveDateTime>,
}

impl Default for RunArgs {
    fn default() -> Self {
        Self {
            profile: "kpm31".into(),
            tcp: SocketAddr::from(([127, 0, 0, 1], 5020)),
            address: None,
            speed: None,
            scenario: None,
            seed: 1,
            start: None,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Markdown,
    Csv,
}

#[derive(Debug, Args)]
pub struct RegistersArgs {
    /// Built-in profile name (kpm31, kpm31c) or path to a profile TOML file.
    #[arg(long, default_value = "kpm31")]
    pub profile: String,
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Profile or scenario files to validate (told apart by their
    /// top-level tables: `[model]` or `[scenario]`).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// Scenario files (TOML) to run, one after the other.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Write a report per scenario into DIR/<scenario name>/: readings.csv,
    /// events.csv, registers.txt, plot.svg.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Print the event log after each summary.
    #[arg(long)]
    pub events: bool,
}

fn parse_speed(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("\"{s}\" is not a number"))?;
    if v.is_finite() && v > 0.0 && v <= 1e9 {
        Ok(v)
    } else {
        Err(format!(
            "speed must be more than 0 and at most 1e9, got {s}"
        ))
    }
}

fn parse_datetime(s: &str) -> Result<chrono::NaiveDateTime, String> {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| format!("\"{s}\" is not a date and time \"YYYY-MM-DD HH:MM:SS\""))
}
