//! The runtime: owns the meters, maps simulated time onto wall time, and
//! hands out [`MeterHandle`]s to the protocol adapters.
//!
//! One runner task owns every [`Meter`] (one owner of the meter state).
//! Adapters read the latest published [`Snapshot`] without waiting, and send
//! commands to the runner, which applies them and answers. No lock is held
//! across an `.await`.

mod household;
mod scenario;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub use household::DefaultHousehold;
pub use scenario::ScenarioRunner;

use crate::meter::{Command, CommandError, Meter, Snapshot};
use crate::physics::{Load, Supply};
use crate::profile::RegisterMap;
use crate::time::{SimDuration, SimTime};

/// Maps wall time to simulated time: `speed`× real time from an anchor.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    start_sim: SimTime,
    start_wall: Instant,
    speed: f64,
}

impl SimClock {
    pub fn new(start_sim: SimTime, speed: f64) -> Self {
        Self {
            start_sim,
            start_wall: Instant::now(),
            speed,
        }
    }

    /// The simulated instant now.
    pub fn now(&self) -> SimTime {
        let wall = self.start_wall.elapsed().as_secs_f64();
        let ms = (wall * self.speed * 1000.0).min(1e15) as i64;
        self.start_sim + SimDuration::from_millis(ms)
    }
}

/// What drives the load and supply of a meter over simulated time.
pub trait LoadDriver: Send + std::fmt::Debug {
    /// Supply and load in force at `at`.
    fn state_at(&self, at: SimTime) -> (Supply, Load);
    /// The next instant after `at` at which the state changes.
    fn next_change_after(&self, at: SimTime) -> Option<SimTime>;
}

/// A command batch for one meter, answered when applied.
#[derive(Debug)]
struct CommandRequest {
    meter: usize,
    commands: Vec<Command>,
    reply: oneshot::Sender<Result<(), CommandError>>,
}

/// What a protocol adapter holds for one meter.
#[derive(Debug, Clone)]
pub struct MeterHandle {
    index: usize,
    map: Arc<RegisterMap>,
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
    tx: mpsc::Sender<CommandRequest>,
}

impl MeterHandle {
    pub fn map(&self) -> &RegisterMap {
        &self.map
    }

    /// The latest published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Apply `commands` in order, all or nothing as far as validation goes:
    /// every command is checked before the first is carried out.
    pub async fn execute(&self, commands: Vec<Command>) -> Result<(), CommandError> {
        let (reply, rx) = oneshot::channel();
        let req = CommandRequest {
            meter: self.index,
            commands,
            reply,
        };
        if self.tx.send(req).await.is_err() {
            return Err(CommandError::PoweredOff);
        }
        rx.await.unwrap_or(Err(CommandError::PoweredOff))
    }
}

struct Slot {
    meter: Meter,
    driver: Box<dyn LoadDriver>,
    published: Arc<RwLock<Arc<Snapshot>>>,
}

/// Owns the meters and advances them with the simulated clock.
pub struct Runner {
    slots: Vec<Slot>,
    clock: SimClock,
    rx: mpsc::Receiver<CommandRequest>,
    tx: mpsc::Sender<CommandRequest>,
    /// How often snapshots are republished [wall time].
    tick: Duration,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("meters", &self.slots.len())
            .finish()
    }
}

impl Runner {
    pub fn new(clock: SimClock) -> Self {
        let (tx, rx) = mpsc::channel(256);
        Self {
            slots: Vec::new(),
            clock,
            rx,
            tx,
            tick: Duration::from_millis(100),
        }
    }

    /// Add a meter driven by `driver`; returns its handle.
    pub fn add(
        &mut self,
        mut meter: Meter,
        map: Arc<RegisterMap>,
        driver: Box<dyn LoadDriver>,
    ) -> MeterHandle {
        let now = meter.now();
        let (supply, load) = driver.state_at(now);
        meter.set_supply(now, supply);
        meter.set_load(now, load);
        let published = Arc::new(RwLock::new(Arc::new(meter.snapshot())));
        let handle = MeterHandle {
            index: self.slots.len(),
            map,
            snapshot: Arc::clone(&published),
            tx: self.tx.clone(),
        };
        self.slots.push(Slot {
            meter,
            driver,
            published,
        });
        handle
    }

    /// Advance every meter to `to`, feeding load changes on the way.
    fn advance_all(&mut self, to: SimTime) {
        for slot in &mut self.slots {
            advance_slot(slot, to);
        }
    }

    fn publish(slot: &Slot) {
        let snap = Arc::new(slot.meter.snapshot());
        match slot.published.write() {
            Ok(mut g) => *g = snap,
            Err(poisoned) => *poisoned.into_inner() = snap,
        }
    }

    fn execute(&mut self, req: CommandRequest) {
        let now = self.clock.now();
        let Some(slot) = self.slots.get_mut(req.meter) else {
            let _ = req.reply.send(Err(CommandError::PoweredOff));
            return;
        };
        advance_slot(slot, now);
        let result = req
            .commands
            .iter()
            .try_for_each(|c| slot.meter.validate(c))
            .and_then(|()| {
                req.commands
                    .into_iter()
                    .try_for_each(|c| slot.meter.apply(now, c))
            });
        for e in slot.meter.take_events() {
            tracing::info!(meter = req.meter, at = %e.at, event = ?e.kind, "meter event");
        }
        Self::publish(slot);
        let _ = req.reply.send(result);
    }

    /// Run until `shutdown` resolves.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Keep a sender alive in `self`, so `recv` only ends at shutdown.
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tick.tick() => {
                    let now = self.clock.now();
                    self.advance_all(now);
                    for (i, slot) in self.slots.iter_mut().enumerate() {
                        for e in slot.meter.take_events() {
                            tracing::info!(meter = i, at = %e.at, event = ?e.kind, "meter event");
                        }
                        Self::publish(slot);
                    }
                }
                Some(req) = self.rx.recv() => self.execute(req),
            }
        }
        let _ = &self.tx;
    }
}

fn advance_slot(slot: &mut Slot, to: SimTime) {
    loop {
        let now = slot.meter.now();
        match slot.driver.next_change_after(now) {
            Some(t) if t <= to => {
                let (supply, load) = slot.driver.state_at(t);
                slot.meter.advance_to(t);
                if *slot.meter.supply() != supply {
                    slot.meter.set_supply(t, supply);
                }
                if *slot.meter.load() != load {
                    slot.meter.set_load(t, load);
                }
            }
            _ => break,
        }
    }
    slot.meter.advance_to(to);
}
