//! Command-line interface definitions (clap). The help text is generated
//! from these definitions, so docs and behaviour do not drift.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "metertwin",
    version,
    about = "A software twin of the Compere KPM31 energy meter, served over Modbus",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CommandLine>,
    /// With no subcommand, `metertwin` runs the twin with these options.
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum CommandLine {
    /// Run twin meters and serve them over Modbus (the default).
    Run(Box<RunArgs>),
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
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=247), conflicts_with = "meter")]
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
    /// A meter at ADDRESS (1–247), with PROFILE [default: --profile].
    /// Repeat for several meters on every endpoint (multi-drop), e.g.
    /// `--meter 1 --meter 2 --meter 3=kpm31c`.
    #[arg(long = "meter", value_name = "ADDRESS[=PROFILE]", value_parser = parse_meter)]
    pub meter: Vec<MeterSpec>,
    /// Do not serve Modbus TCP.
    #[arg(long)]
    pub no_tcp: bool,
    /// Serve Modbus RTU on this serial device (e.g. /dev/ttyUSB0).
    #[arg(long, value_name = "PATH")]
    pub rtu: Option<PathBuf>,
    /// Serve Modbus RTU on a new pseudo-terminal; its path is printed in the
    /// ready line. With LINK, also make LINK a symlink to it.
    #[arg(long, value_name = "LINK", num_args = 0..=1)]
    pub pty: Option<Option<PathBuf>>,
    /// Serve RTU frames over TCP ("RTU over TCP") on this address.
    #[arg(long, value_name = "ADDR:PORT")]
    pub rtu_tcp: Option<SocketAddr>,
    /// Baud rate of the meters' serial line [default: the profile's, 9600].
    #[arg(long, value_parser = parse_baud)]
    pub baud: Option<u32>,
    /// Parity of the meters' serial line [default: the profile's, even].
    /// Linux pseudo-terminals cannot carry parity: use `none` with --pty.
    #[arg(long, value_enum)]
    pub parity: Option<ParityArg>,
    /// Put RTU replies on the wire at the line's real speed (11-bit
    /// characters), so that masters' timeouts behave as on a real bus.
    #[arg(long)]
    pub pace: bool,
    /// Delay [ms] between the end of an RTU request and the reply (at least
    /// 3.5 character times are always kept).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub turnaround_ms: u64,
    /// When an RTU request is complete and answered: `silence` (the serial
    /// line spec: 3.5 character times after its last byte) or `length` (at
    /// once, when the length its function code gives is in and the CRC
    /// checks, as pymodbus and libmodbus answer; for a fast test fixture on
    /// a pty).
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = FrameEndArg::Silence)]
    pub frame_end: FrameEndArg,
    /// Most TCP connections served at once (per listener); more are
    /// accepted and closed at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_connections: u64,
    /// Close a TCP connection after this many seconds without a request.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Keep the meters' state (energy, history, demand, settings, relay,
    /// residual energy, clock) in DIR/state.json across restarts
    /// (docs/state.md). Without it, state lives in memory only.
    #[arg(long, value_name = "DIR", conflicts_with = "scenario")]
    pub state: Option<PathBuf>,
    /// With --state: save energy every SECS seconds of wall time (and at
    /// SIGINT/SIGTERM). Settings are saved at once, before they are
    /// acknowledged.
    #[arg(long, value_name = "SECS", default_value_t = 1.0, value_parser = parse_interval)]
    pub save_interval: f64,
}

/// One `--meter ADDRESS[=PROFILE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterSpec {
    /// Modbus address, 1–247.
    pub address: u8,
    /// Built-in profile name or path; `None`: `--profile`.
    pub profile: Option<String>,
}

/// Serial parity on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ParityArg {
    None,
    Even,
    Odd,
}

impl From<ParityArg> for crate::meter::settings::Parity {
    fn from(p: ParityArg) -> Self {
        match p {
            ParityArg::None => Self::None,
            ParityArg::Even => Self::Even,
            ParityArg::Odd => Self::Odd,
        }
    }
}

/// `--frame-end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FrameEndArg {
    Silence,
    Length,
}

impl From<FrameEndArg> for crate::modbus::rtu::FrameEnd {
    fn from(f: FrameEndArg) -> Self {
        match f {
            FrameEndArg::Silence => Self::Silence,
            FrameEndArg::Length => Self::Length,
        }
    }
}

fn parse_meter(s: &str) -> Result<MeterSpec, String> {
    let (addr, profile) = match s.split_once('=') {
        Some((a, p)) if !p.is_empty() => (a, Some(p.to_string())),
        Some(_) => return Err(format!("\"{s}\": give a profile after '='")),
        None => (s, None),
    };
    match addr.trim().parse::<u8>() {
        Ok(a) if (1..=247).contains(&a) => Ok(MeterSpec {
            address: a,
            profile,
        }),
        _ => Err(format!(
            "\"{addr}\" is not a Modbus address (1–247); use ADDRESS[=PROFILE]"
        )),
    }
}

fn parse_baud(s: &str) -> Result<u32, String> {
    use crate::meter::settings::BAUD_RATES;
    match s.parse::<u32>() {
        Ok(b) if BAUD_RATES.contains(&b) => Ok(b),
        _ => Err(format!("the meter supports {BAUD_RATES:?} baud, not {s}")),
    }
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
            meter: Vec::new(),
            no_tcp: false,
            rtu: None,
            pty: None,
            rtu_tcp: None,
            baud: None,
            parity: None,
            pace: false,
            turnaround_ms: 0,
            frame_end: FrameEndArg::Silence,
            max_connections: 64,
            idle_timeout: 60,
            state: None,
            save_interval: 1.0,
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

fn parse_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.01..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "\"{s}\" is not an interval in seconds from 0.01 to 86400"
        )),
    }
}

fn parse_datetime(s: &str) -> Result<chrono::NaiveDateTime, String> {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| format!("\"{s}\" is not a date and time \"YYYY-MM-DD HH:MM:SS\""))
}
