//! The subcommands of the binary.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use metertwin::cli::{CheckArgs, Format, RegistersArgs, RunArgs};
use metertwin::meter::Meter;
use metertwin::modbus::{tcp, Station, UnknownUnit};
use metertwin::profile::Profile;
use metertwin::runtime::{DefaultHousehold, Runner, SimClock};
use metertwin::time::SimTime;

/// `metertwin run`: one meter with the default household load on TCP.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let profile = Profile::resolve(&args.profile)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(serve(args, profile))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: RunArgs, profile: Profile) -> anyhow::Result<()> {
    // The only wall-clock read of the program's simulated world: where the
    // meter's clock starts when the user gives no --start.
    #[allow(clippy::disallowed_methods)]
    let start = args
        .start
        .unwrap_or_else(|| chrono::Local::now().naive_local());
    let start = start.with_nanosecond(0).unwrap_or(start);
    let sim_start = SimTime::from_datetime(start);
    let mut config = profile.meter.clone();
    if let Some(a) = args.address {
        config.default_settings.address = a;
    }
    let address = config.default_settings.address;
    let meter = Meter::new(config, args.seed, sim_start, start);
    let mut runner = Runner::new(SimClock::new(sim_start, args.speed));
    let handle = runner.add(
        meter,
        Arc::new(profile.map.clone()),
        Box::new(DefaultHousehold::default()),
    );
    let station = Arc::new(Station::new(vec![handle], UnknownUnit::GatewayException));
    let listener = tcp::bind(args.tcp)
        .await
        .with_context(|| format!("cannot listen on {}", args.tcp))?;
    let local = listener.local_addr()?;
    tokio::spawn(tcp::serve(listener, station));
    let ready = serde_json::json!({
        "event": "ready",
        "tcp": local.to_string(),
        "meters": [{ "address": address, "profile": profile.name, "transport": "tcp" }],
    });
    println!("{ready}");
    tracing::info!(tcp = %local, profile = %profile.name, address, speed = args.speed, "serving");
    runner.run(shutdown_signal()).await;
    tracing::info!("shut down");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
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
