//! The relay and what drives it: remote/local control mode, prepayment with
//! overdraft, and load control (KPM31 manual §4.5–4.7; SPEC §3 "Relay,
//! prepayment and load control").
//!
//! Timeline in local mode, import power P > 0:
//! * the residual balance reaches 0 → reminder cut: the relay opens and
//!   closes again by itself 10 s later [decision];
//! * the balance runs on into overdraft; at −(overdraft limit) → overdraft
//!   cut: open until a top-up lifts the balance above 0;
//! * P above the load threshold for 30 s → load cut: open until a local
//!   (front-panel) "Relay" operation closes it.

use serde::{Deserialize, Serialize};

use super::settings::RelayMode;
use super::{Event, EventKind, Meter};
use crate::time::{SimDuration, SimTime};

/// After a reminder cut the relay closes again after this long.
pub const REMINDER_RECONNECT: SimDuration = SimDuration::from_secs(10);
/// Power above the load threshold for this long opens the relay.
pub const LOAD_CUT_DELAY: SimDuration = SimDuration::from_secs(30);
/// Balance comparisons tolerate this much rounding [Wh]. Deadlines are whole
/// milliseconds, so at a computed crossing the balance can sit a hair above 0.
const BALANCE_EPS_WH: f64 = 1e-6;

/// Why the relay last opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenReason {
    /// A remote command (FC05).
    Remote,
    /// The prepayment balance reached 0 (reconnects after 10 s).
    PrepayReminder,
    /// The balance reached minus the overdraft limit.
    Overdraft,
    /// Active power above the load threshold for 30 s ("overload").
    Overload,
    /// A front-panel operation.
    Local,
}

impl OpenReason {
    /// Register code (0 = never opened).
    pub fn code(self) -> u16 {
        match self {
            OpenReason::Remote => 1,
            OpenReason::PrepayReminder => 2,
            OpenReason::Overdraft => 3,
            OpenReason::Overload => 4,
            OpenReason::Local => 5,
        }
    }
}

/// A cut-off the meter itself is holding (local mode only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cut {
    Reminder,
    Overdraft,
    Load,
}

/// Relay, prepayment and load-control state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    /// Latching relay: true = closed (ON), power flows.
    pub relay_closed: bool,
    pub open_reason: Option<OpenReason>,
    pub mode: RelayMode,
    /// Prepayment balance [Wh]; negative in overdraft.
    pub residual_wh: f64,
    /// Overdraft limit [kWh]
    pub overdraft_limit_kwh: f64,
    /// Load threshold [kW]
    pub load_threshold_kw: f64,
    /// The cut-off in force, if the meter opened the relay itself.
    pub cut: Option<Cut>,
    /// When a reminder cut closes again.
    pub reconnect_at: Option<SimTime>,
    /// Since when active power has been above the load threshold.
    pub over_threshold_since: Option<SimTime>,
    /// The reminder for this run below 0 has been given (re-armed by a top-up
    /// that lifts the balance above 0).
    pub reminder_given: bool,
}

impl Control {
    pub fn new(overdraft_limit_kwh: f64, load_threshold_kw: f64) -> Self {
        Self {
            relay_closed: true,
            open_reason: None,
            mode: RelayMode::Remote,
            residual_wh: 0.0,
            overdraft_limit_kwh,
            load_threshold_kw,
            cut: None,
            reconnect_at: None,
            over_threshold_since: None,
            // A new meter has a 0 balance; the reminder is for running out.
            reminder_given: true,
        }
    }

    pub fn local(&self) -> bool {
        self.mode == RelayMode::Local
    }

    fn overdraft_floor_wh(&self) -> f64 {
        -self.overdraft_limit_kwh * 1000.0
    }

    /// Status bits of register 040DH.
    pub fn status_bits(&self, overload: bool) -> u16 {
        let mut bits = 0;
        if self.relay_closed {
            bits |= 1;
        }
        if self.residual_wh <= BALANCE_EPS_WH {
            bits |= 1 << 1;
        }
        match self.cut {
            Some(Cut::Overdraft) => bits |= 1 << 2,
            Some(Cut::Load) => bits |= 1 << 3,
            Some(Cut::Reminder) => bits |= 1 << 4,
            None => {}
        }
        if overload {
            bits |= 1 << 5;
        }
        bits
    }
}

/// How long `wh` [Wh] take to flow at `p_w` [W] (> 0), in whole
/// milliseconds, at least 1.
///
/// Rounded up, so that the balance has really reached the target at the
/// deadline — but a result within float noise of a whole millisecond is that
/// millisecond: after an earlier step the remaining balance carries rounding
/// (1000 − 2000·(1/6) = 666.666…7), and a plain `ceil` would put the deadline
/// 1 ms late. The noise is far below [`BALANCE_EPS_WH`].
fn time_to_draw(wh: f64, p_w: f64) -> SimDuration {
    let exact = wh / p_w * 3_600_000.0;
    let nearest = exact.round();
    let ms = if (exact - nearest).abs() <= 1e-6 * nearest.max(1.0) {
        nearest
    } else {
        exact.ceil()
    };
    let ms = ms.max(1.0);
    SimDuration::from_millis(if ms < 1e15 { ms as i64 } else { i64::MAX / 4 })
}

impl Meter {
    /// Open the relay for `reason` (no-op when already open).
    pub(super) fn open_relay(&mut self, reason: OpenReason) {
        if self.control.relay_closed {
            self.control.relay_closed = false;
            self.control.open_reason = Some(reason);
            self.push(EventKind::RelayOpened { reason });
            self.refresh_readings();
        }
    }

    pub(super) fn close_relay(&mut self, by: &'static str) {
        if !self.control.relay_closed {
            self.control.relay_closed = true;
            self.push(EventKind::RelayClosed { by: by.to_string() });
            self.refresh_readings();
        }
    }

    /// Re-arm the load timer from the present readings.
    pub(super) fn update_load_timer(&mut self) {
        let c = &mut self.control;
        let over = c.local()
            && self.powered
            && c.relay_closed
            && self.metered.active_w > c.load_threshold_kw * 1000.0;
        if !over {
            c.over_threshold_since = None;
        } else if c.over_threshold_since.is_none() {
            c.over_threshold_since = Some(self.now);
        }
    }

    /// Carry out every relay rule that is due at `self.now`.
    pub(super) fn process_control(&mut self) {
        if let Some(t) = self.control.reconnect_at {
            if t <= self.now {
                self.control.reconnect_at = None;
                if self.control.cut == Some(Cut::Reminder) {
                    self.control.cut = None;
                    self.close_relay("reminder_timeout");
                }
            }
        }
        if !self.control.local() {
            return;
        }
        let c = &self.control;
        if !c.reminder_given && c.relay_closed && c.residual_wh <= BALANCE_EPS_WH {
            self.control.reminder_given = true;
            self.control.cut = Some(Cut::Reminder);
            self.control.reconnect_at = Some(self.now + REMINDER_RECONNECT);
            self.push(EventKind::PrepayReminder);
            self.open_relay(OpenReason::PrepayReminder);
        }
        let c = &self.control;
        if c.cut != Some(Cut::Overdraft) && c.residual_wh <= c.overdraft_floor_wh() + BALANCE_EPS_WH
        {
            self.control.cut = Some(Cut::Overdraft);
            self.control.reconnect_at = None;
            self.push(EventKind::OverdraftCut);
            if self.control.relay_closed {
                self.open_relay(OpenReason::Overdraft);
            } else {
                self.control.open_reason = Some(OpenReason::Overdraft);
            }
        }
        if let Some(since) = self.control.over_threshold_since {
            if since + LOAD_CUT_DELAY <= self.now {
                self.control.over_threshold_since = None;
                self.control.cut = Some(Cut::Load);
                self.push(EventKind::LoadCut);
                self.open_relay(OpenReason::Overload);
            }
        }
    }

    /// The next instant a relay rule fires at the present power, if any.
    pub(super) fn control_deadline(&self) -> Option<SimTime> {
        let c = &self.control;
        let mut next = c.reconnect_at;
        let mut earliest = |t: SimTime| next = Some(next.map_or(t, |n| n.min(t)));
        if !c.local() {
            return next;
        }
        let p = self.metered.active_w;
        if c.relay_closed && p > 0.0 {
            let to_zero = c.residual_wh;
            let to_floor = c.residual_wh - c.overdraft_floor_wh();
            let target = if !c.reminder_given && to_zero > BALANCE_EPS_WH {
                Some(to_zero)
            } else if c.cut != Some(Cut::Overdraft) && to_floor > BALANCE_EPS_WH {
                Some(to_floor)
            } else {
                None
            };
            if let Some(wh) = target {
                earliest(self.now + time_to_draw(wh, p));
            }
        }
        if let Some(since) = c.over_threshold_since {
            earliest(since + LOAD_CUT_DELAY);
        }
        next
    }

    /// Remote relay command (FC05): refused in local mode.
    pub(super) fn remote_relay(&mut self, close: bool) -> Result<(), super::CommandError> {
        if self.control.local() {
            return Err(super::CommandError::RefusedInLocalMode);
        }
        if close {
            self.close_relay("remote");
        } else {
            self.open_relay(OpenReason::Remote);
        }
        Ok(())
    }

    /// Front-panel "Relay" operation: the only way to reconnect after a load
    /// cut. Refused while an overdraft cut holds (a top-up must come first).
    pub(super) fn local_relay(&mut self, close: bool) -> Result<(), super::CommandError> {
        if close {
            let c = &self.control;
            if c.local() && c.residual_wh <= c.overdraft_floor_wh() + BALANCE_EPS_WH {
                return Err(super::CommandError::RelayLocked(Cut::Overdraft));
            }
            self.control.cut = None;
            self.control.reconnect_at = None;
            self.close_relay("local");
        } else {
            self.control.cut = None;
            self.control.reconnect_at = None;
            self.open_relay(OpenReason::Local);
        }
        self.update_load_timer();
        Ok(())
    }

    /// Add `kwh` to the balance; a balance above 0 lifts a prepayment cut.
    pub(super) fn top_up(&mut self, kwh: f64) {
        self.control.residual_wh += kwh * 1000.0;
        self.push(EventKind::TopUp { kwh });
        self.after_balance_change();
    }

    pub(super) fn after_balance_change(&mut self) {
        if self.control.residual_wh > BALANCE_EPS_WH {
            self.control.reminder_given = false;
            if matches!(self.control.cut, Some(Cut::Reminder | Cut::Overdraft)) {
                self.control.cut = None;
                self.control.reconnect_at = None;
                self.close_relay("top_up");
            }
        }
        self.process_control();
    }

    pub(super) fn set_relay_mode(&mut self, mode: RelayMode) {
        if self.control.mode == mode {
            return;
        }
        self.control.mode = mode;
        if mode == RelayMode::Remote {
            // Prepayment and load control stop; the relay keeps its state.
            self.control.cut = None;
            self.control.reconnect_at = None;
        } else {
            // Entering local mode with money left arms the reminder.
            self.control.reminder_given = self.control.residual_wh <= BALANCE_EPS_WH;
        }
        self.update_load_timer();
        self.process_control();
    }

    pub(super) fn push(&mut self, kind: EventKind) {
        self.events.push(Event { at: self.now, kind });
    }
}
