//! The vocabulary of a register map: which meter quantity a register shows,
//! how it is encoded on the wire, and whether it can be written.

use crate::meter::tariff::Rate;

/// How a field is laid out in registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    U16,
    /// Two registers, in the profile's word order.
    U32,
    /// IEEE-754 single, two registers, in the profile's word order.
    F32,
    /// Year, month, day, hour, minute, second: six registers.
    DateTime,
    /// 8 × (hour, minute, rate): 24 registers.
    DayTable,
    /// 4 × (month, day, day-table number): 12 registers.
    TimeZones,
}

impl FieldType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "u16" => Self::U16,
            "u32" => Self::U32,
            "f32" => Self::F32,
            "datetime" => Self::DateTime,
            "day_table" => Self::DayTable,
            "time_zones" => Self::TimeZones,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::U16 => "u16",
            Self::U32 => "u32",
            Self::F32 => "f32",
            Self::DateTime => "datetime",
            Self::DayTable => "day_table",
            Self::TimeZones => "time_zones",
        }
    }

    /// Width [registers]
    pub fn width(self) -> u16 {
        match self {
            Self::U16 => 1,
            Self::U32 | Self::F32 => 2,
            Self::DateTime => 6,
            Self::DayTable => 24,
            Self::TimeZones => 12,
        }
    }
}

/// Read and write permission of a register or coil.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    ReadWrite,
}

impl Access {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "r" => Some(Self::Read),
            "w" => Some(Self::Write),
            "rw" => Some(Self::ReadWrite),
            _ => None,
        }
    }

    pub fn readable(self) -> bool {
        self != Self::Write
    }

    pub fn writable(self) -> bool {
        self != Self::Read
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "R",
            Self::Write => "W",
            Self::ReadWrite => "RW",
        }
    }
}

/// A meter setting shown as a u16 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Password,
    Address,
    /// 1:1200 2:2400 3:4800 4:9600
    BaudCode,
    /// 0 none, 1 even, 2 odd
    Parity,
    /// 0 remote, 1 local
    RelayMode,
    /// 50 / 60
    Frequency,
    /// 0 MQTT, 1 debug
    WirelessMode,
}

/// Live energy registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnergyQty {
    TotalActive,
    ImportActive,
    ExportActive,
    TotalReactive,
    ImportReactive,
    ExportReactive,
    RateActive(Rate),
    RateReactive(Rate),
}

/// History series (13 values: this month, previous 1…12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    CombinedActive,
    CombinedReactive,
    RateActive(Rate),
    RateReactive(Rate),
}

/// Instantaneous measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Voltage,
    Current,
    ActivePower,
    ReactivePower,
    ApparentPower,
    PowerFactor,
    Frequency,
    ApparentDemand,
}

/// What a register field shows or commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    Setting(Setting),
    Measure(Measure),
    Energy(EnergyQty),
    /// Month `1` of a series (0 = this month).
    History(Series, u8),
    ClearEnergy,
    ClearResidual,
    TopUp,
    LoadThreshold,
    OverdraftLimit,
    Residual,
    Status,
    PulseCount,
    RelayReason,
    Clock,
    /// Day table (0-based).
    DayTable(u8),
    TimeZones,
}

fn rate_named(s: &str) -> Option<Rate> {
    Rate::ALL.into_iter().find(|r| r.name() == s)
}

impl Quantity {
    /// Parse a profile's `value` key. History series parse to month 0; the
    /// profile's `count` expands them.
    pub fn parse(key: &str) -> Option<Self> {
        use Quantity as Q;
        let q = match key {
            "setting.password" => Q::Setting(Setting::Password),
            "setting.address" => Q::Setting(Setting::Address),
            "setting.baud" => Q::Setting(Setting::BaudCode),
            "setting.parity" => Q::Setting(Setting::Parity),
            "setting.relay_mode" => Q::Setting(Setting::RelayMode),
            "setting.frequency" => Q::Setting(Setting::Frequency),
            "setting.wireless_mode" => Q::Setting(Setting::WirelessMode),
            "measure.voltage" => Q::Measure(Measure::Voltage),
            "measure.current" => Q::Measure(Measure::Current),
            "measure.active_power" => Q::Measure(Measure::ActivePower),
            "measure.reactive_power" => Q::Measure(Measure::ReactivePower),
            "measure.apparent_power" => Q::Measure(Measure::ApparentPower),
            "measure.power_factor" => Q::Measure(Measure::PowerFactor),
            "measure.frequency" => Q::Measure(Measure::Frequency),
            "measure.apparent_demand" => Q::Measure(Measure::ApparentDemand),
            "energy.total_active" => Q::Energy(EnergyQty::TotalActive),
            "energy.import_active" => Q::Energy(EnergyQty::ImportActive),
            "energy.export_active" => Q::Energy(EnergyQty::ExportActive),
            "energy.total_reactive" => Q::Energy(EnergyQty::TotalReactive),
            "energy.import_reactive" => Q::Energy(EnergyQty::ImportReactive),
            "energy.export_reactive" => Q::Energy(EnergyQty::ExportReactive),
            "history.combined_active" => Q::History(Series::CombinedActive, 0),
            "history.combined_reactive" => Q::History(Series::CombinedReactive, 0),
            "command.clear_energy" => Q::ClearEnergy,
            "command.clear_residual" => Q::ClearResidual,
            "command.top_up" => Q::TopUp,
            "prepay.load_threshold" => Q::LoadThreshold,
            "prepay.overdraft_limit" => Q::OverdraftLimit,
            "prepay.residual" => Q::Residual,
            "status" => Q::Status,
            "pulse_count" => Q::PulseCount,
            "relay.reason" => Q::RelayReason,
            "clock" => Q::Clock,
            "tariff.time_zones" => Q::TimeZones,
            _ => return Self::parse_patterned(key),
        };
        Some(q)
    }

    fn parse_patterned(key: &str) -> Option<Self> {
        if let Some(n) = key.strip_prefix("tariff.day_table.") {
            let n: u8 = n.parse().ok()?;
            return (1..=4).contains(&n).then_some(Quantity::DayTable(n - 1));
        }
        let (group, rest) = key.split_once('.')?;
        let (rate, kind) = rest.split_once('_')?;
        let rate = rate_named(rate)?;
        match (group, kind) {
            ("energy", "active") => Some(Quantity::Energy(EnergyQty::RateActive(rate))),
            ("energy", "reactive") => Some(Quantity::Energy(EnergyQty::RateReactive(rate))),
            ("history", "active") => Some(Quantity::History(Series::RateActive(rate), 0)),
            ("history", "reactive") => Some(Quantity::History(Series::RateReactive(rate), 0)),
            _ => None,
        }
    }

    /// The encoding this quantity needs.
    pub fn field_type(self) -> FieldType {
        match self {
            Quantity::Setting(_) | Quantity::ClearEnergy | Quantity::ClearResidual => {
                FieldType::U16
            }
            Quantity::Status | Quantity::RelayReason => FieldType::U16,
            Quantity::PulseCount => FieldType::U32,
            Quantity::Clock => FieldType::DateTime,
            Quantity::DayTable(_) => FieldType::DayTable,
            Quantity::TimeZones => FieldType::TimeZones,
            _ => FieldType::F32,
        }
    }

    /// Whether a client may write it, and whether reading shows anything.
    pub fn allowed_access(self) -> &'static [Access] {
        match self {
            Quantity::Setting(_)
            | Quantity::LoadThreshold
            | Quantity::OverdraftLimit
            | Quantity::Clock
            | Quantity::DayTable(_)
            | Quantity::TimeZones => &[Access::ReadWrite, Access::Read],
            Quantity::ClearEnergy | Quantity::ClearResidual | Quantity::TopUp => &[Access::Write],
            _ => &[Access::Read],
        }
    }

    /// A history series is declared once with `count = 13`.
    pub fn is_series(self) -> bool {
        matches!(self, Quantity::History(..))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_to_quantities() {
        assert_eq!(
            Quantity::parse("energy.peak_reactive"),
            Some(Quantity::Energy(EnergyQty::RateReactive(Rate::Peak)))
        );
        assert_eq!(
            Quantity::parse("history.valley_active"),
            Some(Quantity::History(Series::RateActive(Rate::Valley), 0))
        );
        assert_eq!(
            Quantity::parse("tariff.day_table.2"),
            Some(Quantity::DayTable(1))
        );
        assert_eq!(Quantity::parse("tariff.day_table.5"), None);
        assert_eq!(Quantity::parse("energy.medium_active"), None);
        assert_eq!(Quantity::parse("voltage"), None);
    }
}
