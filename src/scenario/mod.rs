//! Load scenarios: what happens to one or more meters over simulated time
//! (SPEC §5), written in TOML and run by a sans-IO [`Engine`].
//!
//! * [`format`] — the TOML file as written, and its validation into a
//!   [`Scenario`] (errors carry file:line:column; unknown fields are errors);
//! * [`schedule`] — load and supply processes: steps, ramps, duty cycles,
//!   daily profiles, bounded random processes and CSV replay, each a pure
//!   function of time (and of the seed) that also says when it next changes;
//! * [`engine`] — owns the meters, feeds them the scenario's loads and events
//!   and jumps from deadline to deadline ([`Engine::next_deadline`],
//!   [`Engine::advance_to`]), so that a year runs in seconds and the result
//!   does not depend on the speed or on how often the engine is advanced;
//! * [`expect`] — expectations and their outcomes;
//! * [`report`] — register dumps (golden files) and the `--report` writer
//!   (the only part of this module that does I/O, with the file loaders).
//!
//! `scenarios/README.md` documents the format field by field.

pub mod engine;
pub mod expect;
pub mod format;
pub mod report;
pub mod schedule;

use std::path::Path;

pub use engine::{Engine, LogEntry, Pacer, Sample};
pub use expect::{Expectation, Outcome};
pub use format::{
    ComponentSpec, EventAction, EventSpec, LoadKind, LoadSpec, MeterSpec, Scenario, Speed,
    SupplySpec,
};

/// A scenario that did not load: where, and what is wrong.
pub type ScenarioError = crate::source::SourceError;

/// What a TOML file holds, told by its top-level tables: a scenario has
/// `[scenario]`, a profile has `[model]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Scenario,
    Profile,
    Unknown,
}

/// Tell a scenario from a profile without validating either.
pub fn detect_kind(text: &str) -> FileKind {
    match text.parse::<toml::Table>() {
        Ok(t) if t.contains_key("scenario") => FileKind::Scenario,
        Ok(t) if t.contains_key("model") => FileKind::Profile,
        _ => FileKind::Unknown,
    }
}

impl Scenario {
    /// Load and validate a scenario file. Profiles and CSV files it names
    /// are read relative to the scenario's directory.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError::file(&file, format!("cannot read: {e}")))?;
        let base = path.parent().unwrap_or(Path::new("."));
        format::parse(&file, &text, base)
    }

    /// Parse and validate scenario `text`, naming `file` in errors; relative
    /// paths inside it are resolved against `base`.
    pub fn parse(file: &str, text: &str, base: &Path) -> Result<Self, ScenarioError> {
        format::parse(file, text, base)
    }
}
