//! The front panel as an API (KPM31 manual §5; KPM31C manual §5.4).
//!
//! Display pages can be stepped through at any time. Settings need the
//! password (default 6666); a settings session with no key pressed for 30 s
//! returns to the measurement display. The "Relay" setting is the only way to
//! reconnect after a load cut-off.

use serde::{Deserialize, Serialize};

use super::energy::Direction;
use super::{Command, CommandError, Meter};
use crate::time::{SimDuration, SimTime};

/// A settings session ends after this long without a key press.
pub const PANEL_TIMEOUT: SimDuration = SimDuration::from_secs(30);

/// One key-level operation on the front panel.
#[derive(Debug, Clone, PartialEq)]
pub enum PanelOp {
    /// Enter the password to open the settings menu.
    EnterPassword(u16),
    /// Change a setting (requires an open session).
    Set(Command),
    /// The "Relay" setting: true closes (ON).
    Relay(bool),
    NextPage,
    PreviousPage,
    /// Leave the settings menu.
    Exit,
}

/// The measurement display pages, in the order the keys step through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Page {
    Voltage,
    Current,
    ActivePower,
    ReactivePower,
    ApparentPower,
    PowerFactor,
    Frequency,
    TotalActiveEnergy,
    ImportActiveEnergy,
    ExportActiveEnergy,
    TotalReactiveEnergy,
    ResidualEnergy,
    DateTime,
    LoadThreshold,
    RelayMode,
    Address,
    Version,
}

impl Page {
    pub const ALL: [Page; 17] = [
        Page::Voltage,
        Page::Current,
        Page::ActivePower,
        Page::ReactivePower,
        Page::ApparentPower,
        Page::PowerFactor,
        Page::Frequency,
        Page::TotalActiveEnergy,
        Page::ImportActiveEnergy,
        Page::ExportActiveEnergy,
        Page::TotalReactiveEnergy,
        Page::ResidualEnergy,
        Page::DateTime,
        Page::LoadThreshold,
        Page::RelayMode,
        Page::Address,
        Page::Version,
    ];
}

/// Front-panel state.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Panel {
    page: usize,
    /// Last key press of an open settings session.
    session_last_key: Option<SimTime>,
}

impl Panel {
    pub(super) fn end_session(&mut self) {
        self.session_last_key = None;
    }

    pub(super) fn deadline(&self) -> Option<SimTime> {
        self.session_last_key.map(|t| t + PANEL_TIMEOUT)
    }

    pub(super) fn timed_out(&self, now: SimTime) -> bool {
        self.deadline().is_some_and(|d| d <= now)
    }
}

impl Meter {
    /// Carry out a front-panel operation at `at`.
    pub fn panel(&mut self, at: SimTime, op: PanelOp) -> Result<(), CommandError> {
        self.advance_to(at);
        if !self.powered {
            return Err(CommandError::PoweredOff);
        }
        let in_session = self.panel.session_last_key.is_some();
        if in_session {
            self.panel.session_last_key = Some(self.now);
        }
        let pages = Page::ALL.len();
        match op {
            PanelOp::NextPage => self.panel.page = (self.panel.page + 1) % pages,
            PanelOp::PreviousPage => self.panel.page = (self.panel.page + pages - 1) % pages,
            PanelOp::Exit => self.panel.end_session(),
            PanelOp::EnterPassword(p) if p == self.settings.password => {
                self.panel.session_last_key = Some(self.now);
            }
            PanelOp::EnterPassword(_) => return Err(CommandError::WrongPassword),
            PanelOp::Set(_) | PanelOp::Relay(_) if !in_session => {
                return Err(CommandError::PasswordRequired)
            }
            PanelOp::Relay(close) => self.local_relay(close)?,
            PanelOp::Set(cmd) => {
                let allowed = matches!(
                    cmd,
                    Command::SetPassword(_)
                        | Command::SetAddress(_)
                        | Command::SetBaud(_)
                        | Command::SetParity(_)
                        | Command::ClearEnergy
                        | Command::ClearResidual
                        | Command::SetWireless(_)
                        | Command::SetFrequency(_)
                        | Command::SetRelayMode(_)
                );
                if !allowed {
                    return Err(CommandError::NotAPanelSetting("this setting"));
                }
                self.apply(at, cmd)?;
            }
        }
        Ok(())
    }

    /// Whether a password-protected settings session is open.
    pub fn panel_session_open(&self) -> bool {
        self.panel.session_last_key.is_some()
    }

    /// The page on the display and its text, as the LCD would show it.
    pub fn display(&self) -> (Page, String) {
        let page = Page::ALL[self.panel.page % Page::ALL.len()];
        let r = &self.readings;
        let b = &self.lifetime;
        let kwh = |wh: f64| wh / 1000.0;
        let text = match page {
            Page::Voltage => format!("U {:.1} V", r.voltage_v),
            Page::Current => format!("I {:.3} A", r.current_a),
            Page::ActivePower => format!("P {:.1} W", r.active_w),
            Page::ReactivePower => format!("Q {:.1} var", r.reactive_var),
            Page::ApparentPower => format!("S {:.1} VA", r.apparent_va),
            Page::PowerFactor => format!("PF {:.3}", r.power_factor),
            Page::Frequency => format!("F {:.2} Hz", r.frequency_hz),
            Page::TotalActiveEnergy => {
                format!(
                    "EP {:.2} kWh",
                    kwh(b.active_total(self.config.combination_active))
                )
            }
            Page::ImportActiveEnergy => {
                format!("+EP {:.2} kWh", kwh(b.active_dir(Direction::Import)))
            }
            Page::ExportActiveEnergy => {
                format!("-EP {:.2} kWh", kwh(b.active_dir(Direction::Export)))
            }
            Page::TotalReactiveEnergy => {
                format!(
                    "EQ {:.2} kvarh",
                    kwh(b.reactive_total(self.config.combination_reactive))
                )
            }
            Page::ResidualEnergy => format!("S-EP {:.1} kWh", kwh(self.control.residual_wh)),
            Page::DateTime => self.clock().format("%Y-%m-%d %H-%M-%S").to_string(),
            Page::LoadThreshold => format!("P-Val {} kW", self.control.load_threshold_kw),
            Page::RelayMode => format!("CTR-M {:?}", self.control.mode),
            Page::Address => format!("Adr {:03}", self.settings.address),
            Page::Version => self.config.firmware.clone(),
        };
        (page, text)
    }
}
