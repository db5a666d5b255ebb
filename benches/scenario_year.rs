//! Simulated seconds per wall second for the household year
//! (`scenarios/household_year.toml`): target, a year in under 2 s of wall
//! time. Run with `cargo bench --bench scenario_year [-- RUNS]` (default 5; the
//! median is reported, the last line is JSON for `bench/run`).

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
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let mut walls = Vec::with_capacity(runs);
    let mut steps = 0;
    for _ in 0..runs {
        let engine = Engine::new(sc.clone());
        let t0 = std::time::Instant::now();
        let mut engine = engine;
        engine.run_to_end();
        let wall = t0.elapsed().as_secs_f64();
        steps = engine.steps();
        walls.push(wall);
        std::hint::black_box(engine.snapshot(0));
    }
    walls.sort_by(f64::total_cmp);
    let median = walls[walls.len() / 2];
    println!(
        "household year: {simulated:.0} simulated s in {median:.3} wall s (median of {runs}; \
         best {:.3}, worst {:.3}), {steps} steps, {:.3e} simulated s per wall s — {}",
        walls[0],
        walls[walls.len() - 1],
        simulated / median,
        if median < 2.0 {
            "target (< 2 s) met"
        } else {
            "target (< 2 s) MISSED"
        }
    );
    // For bench/run.
    println!(
        "{}",
        serde_json::json!({
            "simulated_s": simulated,
            "runs": runs,
            "median_wall_s": median,
            "min_wall_s": walls[0],
            "max_wall_s": walls[walls.len() - 1],
            "steps": steps,
            "sim_s_per_wall_s": simulated / median,
        })
    );
}
