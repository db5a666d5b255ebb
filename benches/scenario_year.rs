//! Simulated seconds per wall second for the household year
//! (`scenarios/household_year.toml`): target, a year in under 2 s of wall
//! time. Run with `cargo bench --bench scenario_year`.

use std::path::PathBuf;

use metertwin::scenario::{Engine, Scenario};

// The benchmark measures wall time; it never steers the simulation.
#[allow(clippy::disallowed_methods)]
fn main() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/household_year.toml");
    let sc = match Scenario::load(&path) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let simulated = (sc.end - sc.start).as_secs_f64();
    let runs = 3;
    let mut best = f64::INFINITY;
    let mut steps = 0;
    for _ in 0..runs {
        let engine = Engine::new(sc.clone());
        let t0 = std::time::Instant::now();
        let mut engine = engine;
        engine.run_to_end();
        let wall = t0.elapsed().as_secs_f64();
        steps = engine.steps();
        best = best.min(wall);
        std::hint::black_box(engine.snapshot(0));
    }
    println!(
        "household year: {simulated:.0} simulated s in {best:.3} wall s (best of {runs}), {steps} steps, \
         {:.3e} simulated s per wall s — {}",
        simulated / best,
        if best < 2.0 { "target (< 2 s) met" } else { "target (< 2 s) MISSED" }
    );
}
