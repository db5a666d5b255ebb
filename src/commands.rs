//! The subcommands of the binary.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use metertwin::cli::{CheckArgs, Format, MeterSpec, RegistersArgs, RunArgs};
use metertwin::meter::Meter;
use metertwin::modbus::rtu::{LineSettings, RtuOptions};
use metertwin::modbus::serial::{self, Pty};
use metertwin::modbus::tcp::{self, Protocol, TcpOptions};
use metertwin::modbus::{Station, UnknownUnit};
use metertwin::profile::Profile;
use metertwin::runtime::{DefaultHousehold, Runner, SimClock};
use metertwin::time::SimTime;

/// `metertwin run`: meters with the default household load, on every
/// endpoint asked for (TCP, RTU over TCP, a pty, a serial device).
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let profile = Profile::resolve(&args.profile)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(serve(args, profile))?;
    Ok(ExitCode::SUCCESS)
}

/// How long in-flight requests get to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

async fn serve(args: RunArgs, profile: Profile) -> anyhow::Result<()> {
    // The only wall-clock read of the program's simulated world: where the
    // meter's clock starts when the user gives no --start.
    #[allow(clippy::disallowed_methods)]
    let start = args
        .start
        .unwrap_or_else(|| chrono::Local::now().naive_local());
    let start = start.with_nanosecond(0).unwrap_or(start);
    let sim_start = SimTime::from_datetime(start);
    let specs = if args.meter.is_empty() {
        vec![MeterSpec {
            address: args
                .address
                .unwrap_or(profile.meter.default_settings.address),
            profile: None,
        }]
    } else {
        args.meter.clone()
    };
    let mut runner = Runner::new(SimClock::new(sim_start, args.speed));
    let mut handles = Vec::new();
    let mut listed = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        if specs[..i].iter().any(|s| s.address == spec.address) {
            anyhow::bail!(
                "two meters at address {}: give each --meter its own",
                spec.address
            );
        }
        let profile = match &spec.profile {
            Some(p) => Profile::resolve(p)?,
            None => profile.clone(),
        };
        let mut config = profile.meter.clone();
        let settings = &mut config.default_settings;
        settings.address = spec.address;
        if let Some(b) = args.baud {
            settings.baud = b;
        }
        if let Some(p) = args.parity {
            settings.parity = p.into();
        }
        let meter = Meter::new(config, args.seed.wrapping_add(i as u64), sim_start, start);
        handles.push(runner.add(
            meter,
            Arc::new(profile.map.clone()),
            Box::new(DefaultHousehold::default()),
        ));
        listed.push(serde_json::json!({ "address": spec.address, "profile": profile.name }));
    }
    let line = handles
        .first()
        .map(|h| LineSettings::of(&h.snapshot()))
        .context("no meter to serve")?;
    let station = Arc::new(Station::new(handles, UnknownUnit::GatewayException));
    let (stop, stopped) = watch::channel(false);
    let tcp_opts = TcpOptions {
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        idle: Duration::from_secs(args.idle_timeout),
    };
    let rtu_opts = RtuOptions {
        pace: args.pace,
        turnaround: Duration::from_millis(args.turnaround_ms),
        ..RtuOptions::default()
    };
    let mut tasks = tokio::task::JoinSet::new();
    let mut ready = serde_json::Map::new();
    ready.insert("event".into(), "ready".into());
    if !args.no_tcp {
        let listener = tcp::bind(args.tcp)
            .await
            .with_context(|| format!("cannot listen on {} (--tcp)", args.tcp))?;
        ready.insert("tcp".into(), listener.local_addr()?.to_string().into());
        let (station, stopped) = (Arc::clone(&station), stopped.clone());
        tasks.spawn(tcp::serve(
            listener,
            station,
            tcp_opts,
            Protocol::Mbap,
            stopped,
        ));
    }
    if let Some(addr) = args.rtu_tcp {
        let listener = tcp::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (--rtu-tcp)"))?;
        ready.insert("rtu_tcp".into(), listener.local_addr()?.to_string().into());
        let protocol = Protocol::RtuOverTcp(line, rtu_opts);
        let (station, stopped) = (Arc::clone(&station), stopped.clone());
        tasks.spawn(tcp::serve(listener, station, tcp_opts, protocol, stopped));
    }
    if let Some(link) = &args.pty {
        let pty =
            Pty::create(link.as_deref()).context("cannot create a pseudo-terminal (--pty)")?;
        ready.insert("pty".into(), pty.path().display().to_string().into());
        if let Some(link) = pty.link() {
            ready.insert("pty_link".into(), link.display().to_string().into());
        }
        let (station, stopped) = (Arc::clone(&station), stopped.clone());
        tasks.spawn(pty.serve(line, station, rtu_opts, stopped));
    }
    if let Some(path) = &args.rtu {
        let port = serial::open_device(path, line)
            .with_context(|| format!("cannot open {} at {line} (--rtu)", path.display()))?;
        ready.insert("rtu".into(), path.display().to_string().into());
        let (station, stopped) = (Arc::clone(&station), stopped.clone());
        tasks.spawn(serial::serve_device(
            path.clone(),
            port,
            line,
            station,
            rtu_opts,
            stopped,
        ));
    }
    if tasks.is_empty() {
        anyhow::bail!(
            "no endpoint to serve: give --tcp, --rtu, --pty or --rtu-tcp (or drop --no-tcp)"
        );
    }
    ready.insert("meters".into(), listed.into());
    let signalled = shutdown_signal();
    println!("{}", serde_json::Value::Object(ready));
    tracing::info!(line = %line, speed = args.speed, meters = specs.len(), "serving");
    // Shutdown: stop accepting, let in-flight requests finish (the runner
    // keeps running for them), then stop the meters.
    let drained = async move {
        signalled.await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
        let all = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN_TIMEOUT, all).await.is_err() {
            tracing::warn!("endpoints did not finish in time");
        }
    };
    runner.run(drained).await;
    tracing::info!("shut down");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is
/// called, not when the future is first polled, so that a signal sent right
/// after the ready line is printed cannot kill the process uncleanly.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

use chrono::Timelike;

/// `metertwin registers`: the register map of a profile.
pub fn registers(args: RegistersArgs) -> anyhow::Result<ExitCode> {
    let profile = Profile::resolve(&args.profile)?;
    let text = match args.format {
        Format::Markdown => metertwin::profile::doc::markdown(&profile),
        Format::Csv => metertwin::profile::doc::csv(&profile),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// `metertwin check`: validate files; report every problem, not just the first.
pub fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    for path in &args.files {
        match Profile::load(path) {
            Ok(p) => println!("{}: ok (profile {})", path.display(), p.name),
            Err(e) => {
                eprintln!("{e}");
                ok = false;
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
