//! The runtime: owns the meters, maps simulated time onto wall time, and
//! hands out [`MeterHandle`]s to the protocol adapters.
//!
//! One runner task owns every [`Meter`] (one owner of the meter state).
//! Adapters read the latest published [`Snapshot`] without waiting, and send
//! commands to the runner, which applies them and answers. No lock is held
//! across an `.await`.

mod household;
mod scenario;
pub mod state;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub use household::DefaultHousehold;
pub use scenario::ScenarioRunner;
pub use state::{SavedMeter, StateError, StateFile, StateStore};

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

/// What a handle asks the runner to do to its meter.
#[derive(Debug)]
enum Op {
    /// A command batch, all or nothing as far as validation goes.
    Commands(Vec<Command>),
    /// Power restored (true) or cut (false): a power cycle of the meter,
    /// as its supply sees it (SPEC §3 "Settlement", "Clock").
    Power(bool),
}

/// An operation on one meter, answered when carried out.
#[derive(Debug)]
struct CommandRequest {
    meter: usize,
    op: Op,
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
    /// With `--state`, the new state is on disk when this returns `Ok`.
    pub async fn execute(&self, commands: Vec<Command>) -> Result<(), CommandError> {
        self.request(Op::Commands(commands)).await
    }

    /// Cut the meter's power: it stops measuring, counting and answering;
    /// its clock runs on and its latching relay keeps its state.
    pub async fn power_off(&self) -> Result<(), CommandError> {
        self.request(Op::Power(false)).await
    }

    /// Restore the meter's power: settlements missed while it was off are
    /// caught up, readings restart.
    pub async fn power_on(&self) -> Result<(), CommandError> {
        self.request(Op::Power(true)).await
    }

    async fn request(&self, op: Op) -> Result<(), CommandError> {
        let (reply, rx) = oneshot::channel();
        let req = CommandRequest {
            meter: self.index,
            op,
            reply,
        };
        if self.tx.send(req).await.is_err() {
            return Err(CommandError::PoweredOff);
        }
        rx.await.unwrap_or(Err(CommandError::PoweredOff))
    }
}

struct Slot {
    /// The address it was started at, and its profile: its key in the
    /// state file.
    key: (u8, String),
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
    /// Where state is saved (`--state`), and how often [wall time].
    store: Option<(StateStore, Duration)>,
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
            store: None,
        }
    }

    /// Save the meters' state to `store` every `interval` of wall time,
    /// after every successful command (before it is answered) and at
    /// shutdown.
    pub fn persist_to(&mut self, store: StateStore, interval: Duration) {
        self.store = Some((store, interval));
    }

    /// The state file's contents now.
    fn state_file(&self, sim_at: SimTime) -> StateFile {
        // The wall time of the save, to measure how long the twin is down.
        #[allow(clippy::disallowed_methods)]
        let saved_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        StateFile {
            format: state::FORMAT.into(),
            version: state::VERSION,
            saved_unix_ms,
            sim_at,
            meters: self
                .slots
                .iter()
                .map(|s| SavedMeter {
                    slot: s.key.0,
                    profile: s.key.1.clone(),
                    state: s.meter.export_state(),
                })
                .collect(),
        }
    }

    /// Save every meter's state at the present instant, if `--state` was
    /// given. An error is logged and returned.
    pub fn save(&mut self) -> std::io::Result<()> {
        if self.store.is_none() {
            return Ok(());
        }
        let now = self.clock.now();
        self.advance_all(now);
        let file = self.state_file(now);
        let Some((store, _)) = &self.store else {
            return Ok(());
        };
        store.save(&file).inspect_err(|e| {
            tracing::error!(file = %store.path().display(), error = %e, "cannot save the state");
        })
    }

    /// Add a meter driven by `driver`; returns its handle.
    pub fn add(
        &mut self,
        meter: Meter,
        map: Arc<RegisterMap>,
        driver: Box<dyn LoadDriver>,
    ) -> MeterHandle {
        let key = (meter.settings().address, meter.config().model.clone());
        self.add_keyed(key, meter, map, driver)
    }

    /// [`Runner::add`] with the meter's key in the state file: the address
    /// it was started at and its profile name.
    pub fn add_keyed(
        &mut self,
        key: (u8, String),
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
            key,
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
        let persist = self.store.is_some();
        let Some(slot) = self.slots.get_mut(req.meter) else {
            let _ = req.reply.send(Err(CommandError::PoweredOff));
            return;
        };
        advance_slot(slot, now);
        let commands = match req.op {
            Op::Power(on) => {
                if on {
                    slot.meter.power_on(now);
                } else {
                    slot.meter.power_off(now);
                }
                Self::log_events(req.meter, slot);
                Self::publish(slot);
                let _ = req.reply.send(Ok(()));
                return;
            }
            Op::Commands(c) => c,
        };
        // Kept to undo the batch if it cannot be made durable.
        let before = persist.then(|| slot.meter.clone());
        let mut result = commands
            .iter()
            .try_for_each(|c| slot.meter.validate(c))
            .and_then(|()| {
                commands
                    .into_iter()
                    .try_for_each(|c| slot.meter.apply(now, c))
            });
        // Durable before the reply: a setting acknowledged is on disk.
        if result.is_ok() && persist && self.save().is_err() {
            result = Err(CommandError::NotSaved);
            if let (Some(slot), Some(before)) = (self.slots.get_mut(req.meter), before) {
                slot.meter = before;
            }
        }
        if let Some(slot) = self.slots.get_mut(req.meter) {
            Self::log_events(req.meter, slot);
            Self::publish(slot);
        }
        let _ = req.reply.send(result);
    }

    fn log_events(i: usize, slot: &mut Slot) {
        for e in slot.meter.take_events() {
            tracing::info!(meter = i, at = %e.at, event = ?e.kind, "meter event");
        }
    }

    /// Run until `shutdown` resolves; then save the state a last time.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let every = self
            .store
            .as_ref()
            .map_or(Duration::from_secs(3600), |s| s.1);
        let mut save = tokio::time::interval_at(Instant::now() + every, every);
        save.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Keep a sender alive in `self`, so `recv` only ends at shutdown.
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tick.tick() => {
                    let now = self.clock.now();
                    self.advance_all(now);
                    for (i, slot) in self.slots.iter_mut().enumerate() {
                        Self::log_events(i, slot);
                        Self::publish(slot);
                    }
                }
                _ = save.tick(), if self.store.is_some() => {
                    let _ = self.save();
                }
                Some(req) = self.rx.recv() => self.execute(req),
            }
        }
        if self.store.is_some() && self.save().is_ok() {
            tracing::info!("state saved");
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

#[cfg(test)]
mod tests {
    use crate::modbus::station::Reply;
    use crate::modbus::testing::station;

    /// The library's power-cycle API: off, the meter is silent; on, it
    /// answers again with its settings kept.
    #[tokio::test]
    async fn a_power_cycle_through_the_handle() {
        let st = station(&[1]);
        let poll = [0x03, 0, 0, 0, 1];
        assert_eq!(
            st.handle(1, &poll).await,
            Reply::Pdu(vec![0x03, 2, 0x1A, 0x0A])
        );
        let meter = &st.meters()[0];
        meter.power_off().await.unwrap();
        assert!(!meter.snapshot().powered);
        assert_eq!(st.handle(1, &poll).await, Reply::Silence);
        meter.power_on().await.unwrap();
        assert!(meter.snapshot().powered);
        assert_eq!(
            st.handle(1, &poll).await,
            Reply::Pdu(vec![0x03, 2, 0x1A, 0x0A])
        );
    }
}
