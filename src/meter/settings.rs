//! Settings of the meter and their ranges (KPM31 manual §5.4 "Default value
//! list"; SPEC §3 "Settings").

use serde::{Deserialize, Serialize};

/// Serial parity. 8 data bits and 1 stop bit always; with no parity the line
/// is 8N1 unless the profile says 8N2 [decision].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    None,
    Even,
    Odd,
}

impl Parity {
    /// Register code: 0 none, 1 even, 2 odd.
    pub fn code(self) -> u16 {
        match self {
            Parity::None => 0,
            Parity::Even => 1,
            Parity::Odd => 2,
        }
    }

    pub fn from_code(c: u16) -> Option<Self> {
        match c {
            0 => Some(Parity::None),
            1 => Some(Parity::Even),
            2 => Some(Parity::Odd),
            _ => None,
        }
    }
}

/// Baud rates the meter supports [bit/s].
pub const BAUD_RATES: [u32; 4] = [1200, 2400, 4800, 9600];

/// Baud register code (1:1200 2:2400 3:4800 4:9600) → baud [bit/s].
pub fn baud_from_code(c: u16) -> Option<u32> {
    BAUD_RATES.get(usize::from(c).wrapping_sub(1)).copied()
}

/// Baud [bit/s] → register code.
pub fn baud_code(baud: u32) -> u16 {
    BAUD_RATES
        .iter()
        .position(|&b| b == baud)
        .map_or(0, |i| i as u16 + 1)
}

/// Wireless uplink mode ("Wifi-M" / "4g_M").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WirelessMode {
    Mqtt,
    Debug,
}

/// Who controls the relay ("CTR-M").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayMode {
    /// Factory default: prepayment and load control off, relay follows FC05.
    Remote,
    /// Prepayment and load control on; remote relay commands refused.
    Local,
}

/// Communication and operating settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Front-panel protection password, 0–9999
    pub password: u16,
    /// Modbus address, 1–247
    pub address: u8,
    /// Baud rate [bit/s], one of [`BAUD_RATES`]
    pub baud: u32,
    pub parity: Parity,
    pub wireless: WirelessMode,
    /// Nominal frequency setting ("F-Set") [Hz], 50 or 60
    pub frequency_hz: u16,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            password: 6666,
            address: 1,
            baud: 9600,
            parity: Parity::Even,
            wireless: WirelessMode::Mqtt,
            frequency_hz: 50,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baud_codes_follow_the_manual() {
        assert_eq!(baud_from_code(1), Some(1200));
        assert_eq!(baud_from_code(4), Some(9600));
        assert_eq!(baud_from_code(0), None);
        assert_eq!(baud_from_code(5), None);
        assert_eq!(baud_code(4800), 3);
    }

    #[test]
    fn parity_codes_round_trip() {
        for p in [Parity::None, Parity::Even, Parity::Odd] {
            assert_eq!(Parity::from_code(p.code()), Some(p));
        }
        assert_eq!(Parity::from_code(3), None);
    }
}
