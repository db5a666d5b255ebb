//! Playing a scenario while the Modbus slave serves its meters
//! (`metertwin run --scenario FILE`).
//!
//! The runner task owns the scenario [`Engine`] and through it every meter
//! (one owner of the meter state). Each turn it drives the engine to the
//! simulated time that maps to the present wall time, publishes preview
//! snapshots for the adapters, and sleeps until the wall time of the
//! engine's next deadline or the next tick, whichever comes first. Meter
//! events and expectation outcomes go to the log.
//!
//! With speed "max" the scenario is fast-forwarded to its end first; the
//! meters are then served at real time from there, with the last load.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{CommandRequest, MeterHandle, Op};
use crate::meter::Snapshot;
use crate::scenario::report::log_line;
use crate::scenario::{Engine, Pacer};

/// Owns a scenario engine and serves its meters.
#[derive(Debug)]
pub struct ScenarioRunner {
    engine: Engine,
    pacer: Pacer,
    published: Vec<Arc<RwLock<Arc<Snapshot>>>>,
    rx: mpsc::Receiver<CommandRequest>,
    tx: mpsc::Sender<CommandRequest>,
    /// Longest wall time between two publications.
    tick: Duration,
    /// Log entries already written out.
    logged: usize,
    /// Expectations already reported.
    reported: Vec<bool>,
    summary_done: bool,
}

impl ScenarioRunner {
    /// A runner playing `engine` at `speed` simulated seconds per wall
    /// second (`None`: as fast as possible, then real time). Returns the
    /// handles for the protocol adapters, one per scenario meter.
    pub fn new(mut engine: Engine, speed: Option<f64>) -> (Self, Vec<MeterHandle>) {
        let (tx, rx) = mpsc::channel(256);
        let start = match speed {
            Some(_) => engine.scenario().start,
            None => {
                engine.run_to_end();
                engine.scenario().end
            }
        };
        let pacer = Pacer {
            start,
            speed: speed.unwrap_or(1.0),
        };
        let mut handles = Vec::new();
        let mut published = Vec::new();
        for i in 0..engine.meter_count() {
            let Some(map) = engine.map(i).cloned() else {
                continue;
            };
            let snap = Arc::new(RwLock::new(Arc::new(engine.snapshot_at(i, start))));
            handles.push(MeterHandle {
                index: i,
                map,
                snapshot: Arc::clone(&snap),
                tx: tx.clone(),
            });
            published.push(snap);
        }
        let n = engine.scenario().expectations.len();
        (
            Self {
                engine,
                pacer,
                published,
                rx,
                tx,
                tick: Duration::from_millis(100),
                logged: 0,
                reported: vec![false; n],
                summary_done: false,
            },
            handles,
        )
    }

    fn publish(&self, at: crate::time::SimTime) {
        for (i, slot) in self.published.iter().enumerate() {
            let snap = Arc::new(self.engine.snapshot_at(i, at));
            match slot.write() {
                Ok(mut g) => *g = snap,
                Err(poisoned) => *poisoned.into_inner() = snap,
            }
        }
    }

    /// Write new log entries and newly decided expectations to the log.
    fn report(&mut self) {
        let names: Vec<String> = self
            .engine
            .scenario()
            .meters
            .iter()
            .map(|m| m.name.clone())
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        for e in &self.engine.log()[self.logged..] {
            tracing::info!(scenario_event = %log_line(e, &names), "meter event");
        }
        self.logged = self.engine.log().len();
        for (i, o) in self.engine.outcomes().into_iter().enumerate() {
            let Some(o) = o else { continue };
            if self.reported.get(i).copied().unwrap_or(true) {
                continue;
            }
            self.reported[i] = true;
            if o.passed {
                tracing::info!(expectation = %o, "expectation holds");
            } else {
                tracing::warn!(expectation = %o, "expectation FAILED");
            }
        }
        if !self.summary_done && self.engine.finished() {
            self.summary_done = true;
            let failed = self.reported.len()
                - self
                    .engine
                    .outcomes()
                    .iter()
                    .filter(|o| o.as_ref().is_some_and(|o| o.passed))
                    .count();
            tracing::info!(
                scenario = %self.engine.scenario().name,
                failed,
                "scenario reached its end; serving on with the last load"
            );
        }
    }

    /// Run until `shutdown` resolves.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let start_wall = Instant::now();
        loop {
            let now = self.pacer.sim_at(start_wall.elapsed());
            self.engine.advance_to(now);
            self.publish(now);
            self.report();
            let mut wake = Instant::now() + self.tick;
            if let Some(d) = self.engine.next_deadline() {
                wake = wake.min(start_wall + self.pacer.wall_at(d));
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep_until(wake) => {}
                Some(req) = self.rx.recv() => {
                    let at = self.pacer.sim_at(start_wall.elapsed());
                    let r = match req.op {
                        Op::Commands(c) => self.engine.execute(req.meter, at, c),
                        Op::Power(on) => self.engine.set_power(req.meter, at, on),
                    };
                    self.publish(at);
                    let _ = req.reply.send(r);
                }
            }
        }
        let _ = &self.tx;
    }
}
