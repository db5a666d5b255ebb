//! Profiles: a meter model as data (`profiles/*.toml`): identity, ratings,
//! accuracy class, serial defaults, metering rules, defaults, and the whole
//! register map (SPEC §4). Validated once when loaded; errors name the file,
//! line, column and field. The rest of the program only sees valid values.

pub mod doc;
mod map;
pub mod quantity;
mod schema;

use std::path::Path;

pub use map::{Block, Coil, Field, RegisterMap, WordOrder};
pub use schema::RawProfile;

use crate::meter::MeterConfig;

/// The profiles built into the binary: (name, file name, TOML text).
pub const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "kpm31",
        "profiles/kpm31.toml",
        include_str!("../../profiles/kpm31.toml"),
    ),
    (
        "kpm31c",
        "profiles/kpm31c.toml",
        include_str!("../../profiles/kpm31c.toml"),
    ),
];

/// A profile that did not load: where, and what is wrong.
pub type ProfileError = crate::source::SourceError;

pub use crate::source::line_col;

/// A loaded, validated profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Where it came from (a file path or `builtin:NAME`).
    pub source: String,
    pub name: String,
    pub manufacturer: String,
    pub description: String,
    pub meter: MeterConfig,
    pub map: RegisterMap,
    pub serial: SerialDefaults,
    pub ratings: Ratings,
    pub accuracy: Accuracy,
}

/// Serial line defaults of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct SerialDefaults {
    /// [bit/s]
    pub baud: u32,
    pub parity: crate::meter::settings::Parity,
    /// Stop bits when parity is none (1 → 8N1, 2 → 8N2).
    pub stop_bits_no_parity: u8,
}

/// Electrical ratings.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratings {
    /// Un [V]
    pub rated_voltage_v: f64,
    /// Ib [A]
    pub basic_current_a: f64,
    /// Imax [A]
    pub max_current_a: f64,
    /// [A]
    pub starting_current_a: f64,
    /// [W]
    pub no_load_power_w: f64,
    /// [Hz]
    pub frequency_hz: f64,
}

/// Accuracy of the model: the measurement limits the physics model's error
/// model draws within, and the energy classes as printed on the meter.
#[derive(Debug, Clone, PartialEq)]
pub struct Accuracy {
    pub limits: crate::physics::AccuracyClass,
    pub active_energy_class: String,
    pub reactive_energy_class: String,
}

impl Profile {
    /// Parse and validate profile `text`, naming `file` in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, ProfileError> {
        schema::parse(file, text)
    }

    /// Load a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ProfileError::file(&file, format!("cannot read: {e}")))?;
        Self::parse(&file, &text)
    }

    /// A built-in profile by name (`kpm31`, `kpm31c`).
    pub fn builtin(name: &str) -> Option<Self> {
        let (_, file, text) = BUILTIN
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))?;
        Self::parse(file, text).ok()
    }

    /// `NAME` of a built-in profile, or a path to a profile file.
    pub fn resolve(name_or_path: &str) -> Result<Self, ProfileError> {
        if let Some(p) = Self::builtin(name_or_path) {
            return Ok(p);
        }
        let path = Path::new(name_or_path);
        if !path.exists() && !name_or_path.contains(['/', '.']) {
            let names: Vec<_> = BUILTIN.iter().map(|(n, _, _)| *n).collect();
            return Err(ProfileError::file(
                name_or_path,
                format!("no such profile (built-in profiles: {})", names.join(", ")),
            ));
        }
        Self::load(path)
    }
}

#[cfg(test)]
mod tests;
