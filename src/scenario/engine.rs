//! The scenario engine: owns the meters, feeds them the scenario's supply,
//! loads and events, checks expectations — sans-IO, like the meter core.
//!
//! The engine moves in *steps*. A step happens at every instant something
//! can change: an event, an expectation, a change of a load or of the
//! supply, a meter's own deadline ([`Meter::poll_at`]), the end. Those
//! instants depend only on the scenario and seed, never on how often the
//! engine is driven, so the meters integrate over exactly the same spans at
//! every speed, and the registers come out bit-for-bit the same.
//! [`Engine::advance_to`] may be called with any time (a wall-clock tick);
//! it steps through every deadline up to it and stops there; what a client
//! sees in between is a *preview* ([`Engine::snapshot_at`]): a copy of the
//! meter advanced to that instant, which leaves the canonical meter alone.

use std::sync::Arc;
use std::time::Duration;

use super::expect::{ExpectKind, Outcome};
use super::format::{ComponentSpec, EventAction, LoadKind, Scenario};
use crate::image;
use crate::meter::{Command, CommandError, Meter, Snapshot};
use crate::physics::{Component, Load, Supply};
use crate::profile::RegisterMap;
use crate::time::{SimDuration, SimTime};

/// One line of the engine's log: a meter event, or a refused scenario
/// action (`command_refused`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub at: SimTime,
    pub meter: usize,
    /// [`crate::meter::EventKind::name`], or `command_refused`.
    pub name: String,
    /// The event's fields as JSON, or why the command was refused.
    pub detail: String,
}

/// A point of the report's time series.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub at: SimTime,
    pub meter: usize,
    pub powered: bool,
    pub relay_closed: bool,
    /// [V]
    pub voltage_v: f64,
    /// [A]
    pub current_a: f64,
    /// [W]
    pub active_w: f64,
    /// [var]
    pub reactive_var: f64,
    pub power_factor: f64,
    /// [Hz]
    pub frequency_hz: f64,
    /// Combined active energy [kWh]
    pub total_kwh: f64,
    /// [kWh]
    pub import_kwh: f64,
    /// [kWh]
    pub export_kwh: f64,
    /// [kvarh]
    pub import_kvarh: f64,
    /// [kvarh]
    pub export_kvarh: f64,
    /// Active energy of rates 1–4 (sharp, peak, flat, valley) [kWh]
    pub rate_kwh: [f64; 4],
    /// Prepayment balance [kWh]
    pub residual_kwh: f64,
}

impl Sample {
    fn of(meter: usize, s: &Snapshot) -> Self {
        let r = &s.readings;
        Self {
            at: s.at,
            meter,
            powered: s.powered,
            relay_closed: s.relay_closed,
            voltage_v: r.voltage_v,
            current_a: r.current_a,
            active_w: r.active_w,
            reactive_var: r.reactive_var,
            power_factor: r.power_factor,
            frequency_hz: r.frequency_hz,
            total_kwh: s.total_active_kwh(),
            import_kwh: s.import_active_kwh(),
            export_kwh: s.export_active_kwh(),
            import_kvarh: s.import_reactive_kvarh(),
            export_kvarh: s.export_reactive_kvarh(),
            rate_kwh: crate::meter::tariff::Rate::ALL.map(|r| s.rate_active_kwh(r)),
            residual_kwh: s.residual_kwh,
        }
    }
}

/// Maps wall time to simulated time at a fixed speed, without reading a
/// clock: the caller passes the wall time elapsed since the start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacer {
    pub start: SimTime,
    /// Simulated seconds per wall second.
    pub speed: f64,
}

impl Pacer {
    /// The simulated instant `wall` after the start.
    pub fn sim_at(&self, wall: Duration) -> SimTime {
        let ms = (wall.as_secs_f64() * self.speed * 1000.0).min(1e15);
        self.start + SimDuration::from_millis(ms as i64)
    }

    /// The wall time after the start at which `sim` is reached.
    pub fn wall_at(&self, sim: SimTime) -> Duration {
        let s = (sim - self.start).as_secs_f64() / self.speed;
        Duration::from_secs_f64(s.clamp(0.0, 1e12))
    }
}

/// The one place a scenario component becomes a physics component: the
/// waveform model's resistive, inductive, capacitive and non-linear (SMPS
/// spectrum) components at `level` × rating.
pub fn to_physics(c: ComponentSpec, level: f64) -> Component {
    match c {
        ComponentSpec::Resistive { power_w } => Component::Resistive {
            power_w: power_w * level,
            rated_voltage_v: None,
        },
        ComponentSpec::Inductive {
            power_w,
            power_factor,
        } => Component::Inductive {
            power_w: power_w * level,
            power_factor,
            rated_voltage_v: None,
        },
        ComponentSpec::Capacitive {
            power_w,
            power_factor,
        } => Component::Capacitive {
            power_w: power_w * level,
            power_factor,
            rated_voltage_v: None,
        },
        ComponentSpec::NonLinear {
            power_w,
            power_factor,
        } => Component::NonLinear {
            power_w: power_w * level,
            displacement_power_factor: power_factor,
            leading: false,
            spectrum: Default::default(),
        },
        // A scenario's generator has a fixed power factor (its own cos φ(P)
        // curve is the physics model's `generation` component); and plain
        // P/Q sources stay what they are.
        ComponentSpec::Generation { .. } | ComponentSpec::Power { .. } => {
            let (active_w, reactive_var) = c.power(level);
            Component::PowerSource {
                active_w,
                reactive_var,
            }
        }
    }
}

/// A meter of the engine.
#[derive(Debug, Clone)]
struct Slot {
    meter: Meter,
    map: Arc<RegisterMap>,
}

/// Runs a [`Scenario`].
#[derive(Debug, Clone)]
pub struct Engine {
    sc: Scenario,
    slots: Vec<Slot>,
    /// The last step: every meter has been advanced at least to here.
    now: SimTime,
    /// The latest time asked for ([`Engine::advance_to`]) ≥ `now`.
    clock: SimTime,
    next_event: usize,
    /// Value and relay expectations, sorted by time.
    checks: Vec<usize>,
    next_check: usize,
    outcomes: Vec<Option<Outcome>>,
    log: Vec<LogEntry>,
    /// Report sampling: interval and next sample time.
    sampling: Option<(SimDuration, SimTime)>,
    samples: Vec<Sample>,
    steps: u64,
}

impl Engine {
    /// Set up the meters in their initial state at the scenario's start.
    pub fn new(sc: Scenario) -> Self {
        let mut slots = Vec::new();
        let mut log = Vec::new();
        for (i, spec) in sc.meters.iter().enumerate() {
            let mut config = spec.profile.meter.clone();
            config.default_settings.address = spec.address;
            config.frontend.ideal = spec.ideal;
            config.frontend.method = spec.method;
            let seed = sc
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(i as u64 + 1);
            let clock = spec.clock.unwrap_or_else(|| sc.start.to_datetime());
            let mut meter = Meter::new(config, seed, sc.start, clock);
            let mut setup = Vec::new();
            if let Some(v) = spec.overdraft_limit_kwh {
                setup.push(Command::SetOverdraftLimit(v));
            }
            if let Some(v) = spec.load_threshold_kw {
                setup.push(Command::SetLoadThreshold(v));
            }
            if let Some(v) = spec.residual_kwh.filter(|v| *v > 0.0) {
                setup.push(Command::TopUp(v));
            }
            if let Some(closed) = spec.relay_closed {
                setup.push(Command::Relay(closed));
            }
            if let Some(mode) = spec.relay_mode {
                setup.push(Command::SetRelayMode(mode));
            }
            for c in setup {
                if let Err(e) = meter.apply(sc.start, c) {
                    log.push(refused(sc.start, i, &e));
                }
            }
            let _ = meter.take_events();
            slots.push(Slot {
                meter,
                map: Arc::new(spec.profile.map.clone()),
            });
        }
        let mut checks: Vec<usize> = (0..sc.expectations.len())
            .filter(|&i| sc.expectations[i].at().is_some())
            .collect();
        checks.sort_by_key(|&i| sc.expectations[i].at());
        let mut e = Self {
            now: sc.start,
            clock: sc.start,
            next_event: 0,
            checks,
            next_check: 0,
            outcomes: vec![None; sc.expectations.len()],
            log,
            sampling: None,
            samples: Vec::new(),
            steps: 0,
            slots,
            sc,
        };
        for i in 0..e.slots.len() {
            e.feed(i, e.sc.start);
            let _ = e.slots[i].meter.take_events();
        }
        e
    }

    pub fn scenario(&self) -> &Scenario {
        &self.sc
    }

    /// The last step.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// How far the engine has been driven, 0…1.
    pub fn progress(&self) -> f64 {
        let total = (self.sc.end - self.sc.start).as_millis().max(1) as f64;
        ((self.clock - self.sc.start).as_millis() as f64 / total).clamp(0.0, 1.0)
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    pub fn meter_count(&self) -> usize {
        self.slots.len()
    }

    pub fn map(&self, meter: usize) -> Option<&Arc<RegisterMap>> {
        self.slots.get(meter).map(|s| &s.map)
    }

    /// Record a time series for the report, one sample every `every` from
    /// the start (call before running).
    pub fn sample_every(&mut self, every: SimDuration) {
        if every > SimDuration::ZERO {
            self.sampling = Some((every, self.sc.start));
        }
    }

    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    pub fn log(&self) -> &[LogEntry] {
        &self.log
    }

    /// Whether the scenario has run to its end.
    pub fn finished(&self) -> bool {
        self.now >= self.sc.end && self.next_deadline().is_none()
    }

    /// Supply at `t`.
    fn supply_at(&self, t: SimTime) -> Supply {
        let s = &self.sc.supply;
        let (mut u, mut f) = (s.voltage_v, s.frequency_hz);
        for (at, v, fr) in &s.steps {
            if *at > t {
                break;
            }
            u = v.unwrap_or(u);
            f = fr.unwrap_or(f);
        }
        if let Some(j) = &s.voltage_jitter {
            u = (u + j.at(t)).max(0.0);
        }
        if let Some(j) = &s.frequency_jitter {
            f += j.at(t);
        }
        Supply {
            voltage_v: u,
            frequency_hz: f,
            ..Supply::default()
        }
    }

    /// Supply and load of meter `m` at `t`.
    pub fn state_at(&self, m: usize, t: SimTime) -> (Supply, Load) {
        let supply = self.supply_at(t);
        let mut components = Vec::new();
        for l in &self.sc.loads {
            if l.meter.is_some_and(|x| x != m) {
                continue;
            }
            match &l.kind {
                LoadKind::Switched {
                    component,
                    patterns,
                } => {
                    let level: f64 = patterns.iter().map(|p| p.level_at(t)).product();
                    if level != 0.0 {
                        components.push(to_physics(*component, level));
                    }
                }
                LoadKind::Replay(r) => {
                    let (p, q) = r.power_at(t, supply.voltage_v);
                    if p != 0.0 || q != 0.0 {
                        components.push(Component::PowerSource {
                            active_w: p,
                            reactive_var: q,
                        });
                    }
                }
            }
        }
        (supply, Load { components })
    }

    /// The first change of any load or of the supply after `t`.
    fn next_input_change(&self, t: SimTime) -> Option<SimTime> {
        let s = &self.sc.supply;
        let supply = [
            s.steps.iter().map(|x| x.0).find(|&a| a > t),
            s.voltage_jitter.as_ref().map(|j| j.next_change_after(t)),
            s.frequency_jitter.as_ref().map(|j| j.next_change_after(t)),
        ];
        let loads = self.sc.loads.iter().flat_map(|l| match &l.kind {
            LoadKind::Switched { patterns, .. } => patterns
                .iter()
                .map(|p| p.next_change_after(t))
                .collect::<Vec<_>>(),
            LoadKind::Replay(r) => vec![r.next_change_after(t)],
        });
        supply.into_iter().chain(loads).flatten().min()
    }

    /// The next instant at which the engine must step, if any is left
    /// before the end: the real-time runner sleeps until then (or a tick).
    pub fn next_deadline(&self) -> Option<SimTime> {
        let end = self.sc.end;
        let pending_event = self.sc.events.get(self.next_event).map(|e| e.at);
        let pending_check = self
            .checks
            .get(self.next_check)
            .and_then(|&i| self.sc.expectations[i].at());
        let meters = self.slots.iter().filter_map(|s| s.meter.poll_at());
        let after = [
            self.next_input_change(self.now),
            (self.now < end).then_some(end),
        ];
        let strictly_after = after
            .into_iter()
            .flatten()
            .chain(meters)
            .filter(|&t| t > self.now);
        [pending_event, pending_check]
            .into_iter()
            .flatten()
            .chain(strictly_after)
            .filter(|&t| t <= end)
            .min()
    }

    /// Drive the engine to `to` (clamped to the end): step through every
    /// deadline up to it. Results do not depend on the `to`s chosen.
    pub fn advance_to(&mut self, to: SimTime) {
        let to = to.min(self.sc.end);
        while let Some(d) = self.next_deadline().filter(|&d| d <= to) {
            self.sample_before(d);
            self.step_to(d);
        }
        if let Some((_, next)) = self.sampling {
            if next <= to {
                self.sample_before(to + SimDuration::from_millis(1));
            }
        }
        self.clock = self.clock.max(to);
    }

    /// Run to the end as fast as possible.
    pub fn run_to_end(&mut self) {
        self.advance_to(self.sc.end);
    }

    /// Take the report samples due strictly before `d`, as previews.
    fn sample_before(&mut self, d: SimTime) {
        let Some((every, mut next)) = self.sampling else {
            return;
        };
        while next < d && next <= self.sc.end {
            for i in 0..self.slots.len() {
                let snap = self.snapshot_at(i, next);
                self.samples.push(Sample::of(i, &snap));
            }
            next = next + every;
        }
        self.sampling = Some((every, next));
    }

    /// Give meter `i` the supply and load in force at `t` (the meter is
    /// already at `t`).
    fn feed(&mut self, i: usize, t: SimTime) {
        let (supply, load) = self.state_at(i, t);
        let m = &mut self.slots[i].meter;
        if *m.supply() != supply {
            m.set_supply(t, supply);
        }
        if *m.load() != load {
            m.set_load(t, load);
        }
    }

    fn step_to(&mut self, d: SimTime) {
        self.steps += 1;
        for i in 0..self.slots.len() {
            self.slots[i].meter.advance_to(d);
            self.feed(i, d);
        }
        while let Some(e) = self.sc.events.get(self.next_event).filter(|e| e.at <= d) {
            let e = e.clone();
            self.next_event += 1;
            let targets: Vec<usize> = match e.meter {
                Some(i) => vec![i],
                None => (0..self.slots.len()).collect(),
            };
            for i in targets {
                if let Err(why) = self.carry_out(i, d, &e.action) {
                    self.collect(i);
                    self.log.push(LogEntry {
                        at: d,
                        meter: i,
                        name: "command_refused".into(),
                        detail: format!("line {}: {why}", e.line),
                    });
                }
            }
        }
        for i in 0..self.slots.len() {
            self.collect(i);
        }
        self.now = self.now.max(d);
        while let Some(&x) = self.checks.get(self.next_check) {
            let ex = &self.sc.expectations[x];
            if ex.at().is_none_or(|t| t > d) {
                break;
            }
            self.next_check += 1;
            let Some(slot) = self.slots.get(ex.meter) else {
                continue;
            };
            self.outcomes[x] = Some(ex.check_snapshot(&slot.map, &slot.meter.snapshot()));
        }
        if let Some((every, next)) = self.sampling {
            if next == d {
                for i in 0..self.slots.len() {
                    let snap = self.slots[i].meter.snapshot();
                    self.samples.push(Sample::of(i, &snap));
                }
                self.sampling = Some((every, next + every));
            }
        }
    }

    /// Carry out a scenario action on meter `i` at `at`.
    fn carry_out(&mut self, i: usize, at: SimTime, action: &EventAction) -> Result<(), String> {
        let slot = &mut self.slots[i];
        let m = &mut slot.meter;
        let e = |e: CommandError| e.to_string();
        match action {
            EventAction::PowerOff => m.power_off(at),
            EventAction::PowerOn => m.power_on(at),
            EventAction::TopUp(kwh) => m.apply(at, Command::TopUp(*kwh)).map_err(e)?,
            EventAction::SetClock(dt) => m.apply(at, Command::SetClock(*dt)).map_err(e)?,
            EventAction::Panel(op) => m.panel(at, op.clone()).map_err(e)?,
            EventAction::WriteRegisters { address, words } => {
                m.advance_to(at);
                let cmds = image::write_registers(&slot.map, &m.snapshot(), *address, words)
                    .map_err(|x| x.to_string())?;
                return Self::apply_all(m, at, cmds).map_err(e);
            }
            EventAction::WriteCoil { address, on } => {
                let v = if *on { image::COIL_ON } else { image::COIL_OFF };
                let cmd = image::write_coil(&slot.map, *address, v).map_err(|x| x.to_string())?;
                m.apply(at, cmd).map_err(e)?;
            }
        }
        Ok(())
    }

    /// Validate every command before carrying out the first (as a Modbus
    /// FC10 write is all or nothing).
    fn apply_all(m: &mut Meter, at: SimTime, cmds: Vec<Command>) -> Result<(), CommandError> {
        m.advance_to(at);
        if !m.powered() {
            return Err(CommandError::PoweredOff);
        }
        cmds.iter().try_for_each(|c| m.validate(c))?;
        cmds.into_iter().try_for_each(|c| m.apply(at, c))
    }

    /// Move meter `i`'s new events to the log.
    fn collect(&mut self, i: usize) {
        for ev in self.slots[i].meter.take_events() {
            let mut detail = serde_json::to_value(&ev.kind).unwrap_or_default();
            if let Some(o) = detail.as_object_mut() {
                o.remove("event");
            }
            let detail = match detail.as_object() {
                Some(o) if o.is_empty() => String::new(),
                _ => detail.to_string(),
            };
            self.log.push(LogEntry {
                at: ev.at,
                meter: i,
                name: ev.kind.name().to_string(),
                detail,
            });
        }
    }

    /// Commands from outside (a Modbus client) for meter `i` at `at` ≥ the
    /// engine's clock. The engine first steps up to `at`.
    pub fn execute(
        &mut self,
        i: usize,
        at: SimTime,
        cmds: Vec<Command>,
    ) -> Result<(), CommandError> {
        self.advance_to(at);
        let at = at.max(self.clock);
        let Some(slot) = self.slots.get_mut(i) else {
            return Err(CommandError::PoweredOff);
        };
        let r = Self::apply_all(&mut slot.meter, at, cmds);
        self.collect(i);
        r
    }

    /// Cut (`on` false) or restore the power of meter `i` at `at` ≥ the
    /// engine's clock, as a `power_off` / `power_on` event would.
    pub fn set_power(&mut self, i: usize, at: SimTime, on: bool) -> Result<(), CommandError> {
        self.advance_to(at);
        let at = at.max(self.clock);
        let Some(slot) = self.slots.get_mut(i) else {
            return Err(CommandError::PoweredOff);
        };
        if on {
            slot.meter.power_on(at);
        } else {
            slot.meter.power_off(at);
        }
        self.collect(i);
        Ok(())
    }

    /// What meter `i` shows at `t` (≥ its last step): a preview that leaves
    /// the canonical meter untouched.
    pub fn snapshot_at(&self, i: usize, t: SimTime) -> Snapshot {
        let Some(slot) = self.slots.get(i) else {
            return Meter::new(Default::default(), 0, t, t.to_datetime()).snapshot();
        };
        if t <= slot.meter.now() {
            return slot.meter.snapshot();
        }
        let mut m = slot.meter.clone();
        m.advance_to(t);
        m.snapshot()
    }

    /// Meter `i` at its last step.
    pub fn snapshot(&self, i: usize) -> Option<Snapshot> {
        self.slots.get(i).map(|s| s.meter.snapshot())
    }

    /// Outcomes of every expectation, in file order. Event expectations are
    /// judged on the log so far; expectations not reached yet are `None`.
    pub fn outcomes(&self) -> Vec<Option<Outcome>> {
        let done = self.finished();
        self.sc
            .expectations
            .iter()
            .enumerate()
            .map(|(i, ex)| match &ex.kind {
                ExpectKind::Event { name, to, .. } => {
                    if !done && *to > self.now {
                        return None;
                    }
                    let times: Vec<SimTime> = self
                        .log
                        .iter()
                        .filter(|l| l.meter == ex.meter && l.name == *name)
                        .map(|l| l.at)
                        .collect();
                    Some(ex.check_events(&times, self.now))
                }
                _ => self.outcomes[i].clone(),
            })
            .collect()
    }
}

fn refused(at: SimTime, meter: usize, e: &CommandError) -> LogEntry {
    LogEntry {
        at,
        meter,
        name: "command_refused".into(),
        detail: e.to_string(),
    }
}
