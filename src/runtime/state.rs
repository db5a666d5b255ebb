//! The state file of `metertwin run --state DIR` (format: `docs/state.md`).
//!
//! One JSON file per run, `DIR/state.json`, holding every meter's
//! [`MeterState`] under a format name and version:
//!
//! ```json
//! {"format":"metertwin-state","version":1,"saved_unix_ms":…,"sim_at":…,"meters":[…]}
//! ```
//!
//! * Writes are atomic: a temporary file in the same directory is written,
//!   fsynced, renamed over `state.json`, and the directory is fsynced, so a
//!   crash at any instant leaves either the old file or the new one.
//! * Loading never guesses: a file that is empty, truncated, not JSON, not a
//!   metertwin state, of a newer version, or holding values the meter core
//!   could not have produced is an error naming the file and the problem.
//!   The file is left as it is.
//! * `DIR/lock` is held (an advisory `flock`) while a twin uses the
//!   directory, so two twins cannot write over each other's state.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::meter::{Meter, MeterConfig, MeterState, RestoreError};
use crate::time::{SimDuration, SimTime};

/// The `format` field of every state file.
pub const FORMAT: &str = "metertwin-state";
/// The version this build writes, and the newest it reads.
pub const VERSION: u32 = 1;
/// The state file's name inside `--state DIR`.
pub const FILE_NAME: &str = "state.json";
const TMP_NAME: &str = "state.json.tmp";
const LOCK_NAME: &str = "lock";

/// The whole file, version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`] when written by this build.
    pub version: u32,
    /// Wall time of the save [ms since 1970-01-01 00:00:00 UTC]: how long
    /// the twin was down is measured from it.
    pub saved_unix_ms: i64,
    /// The simulated instant of the save (every meter's `state.at`).
    pub sim_at: SimTime,
    pub meters: Vec<SavedMeter>,
}

/// One meter of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedMeter {
    /// The address the meter was started at (`--address`, `--meter`): the
    /// key that finds it again on the next start, even after a client has
    /// written it a new address.
    pub slot: u8,
    /// The profile it runs (name as given on the command line).
    pub profile: String,
    pub state: MeterState,
}

/// Just the header, read first: a newer version may have any other shape.
#[derive(Debug, Deserialize)]
struct Header {
    format: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

/// What is wrong with a state directory or file.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("cannot read it: {0}")]
    Read(io::Error),
    #[error("cannot create or use the state directory: {0}")]
    Dir(io::Error),
    #[error("another metertwin is using this state directory (its lock is held)")]
    Locked,
    #[error("the file is empty")]
    Empty,
    #[error("the file is truncated (it ends inside the JSON at line {line}, column {column})")]
    Truncated { line: usize, column: usize },
    #[error("the file is corrupt: {0}")]
    Corrupt(String),
    #[error("not a metertwin state file (\"format\" is {0}, expected \"{FORMAT}\")")]
    NotAState(String),
    #[error("the state is of version {found}, newer than this metertwin reads (up to {VERSION}); use a newer metertwin")]
    Newer { found: u64, supported: u32 },
    #[error("\"version\" is {0}, expected a whole number 1–{VERSION}")]
    BadVersion(String),
    #[error("meter {slot}: {error}")]
    Meter { slot: u8, error: RestoreError },
    #[error("{0}")]
    Mismatch(String),
}

/// A problem with one state file or directory, named.
#[derive(Debug, thiserror::Error)]
#[error("state file {}: {problem}", path.display())]
pub struct StateError {
    pub path: PathBuf,
    pub problem: Problem,
}

impl StateError {
    pub fn new(path: &Path, problem: Problem) -> Self {
        Self {
            path: path.to_path_buf(),
            problem,
        }
    }
}

/// Parse the text of a state file; `path` only names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<StateFile, StateError> {
    let err = |problem| StateError::new(path, problem);
    if text.trim().is_empty() {
        return Err(err(Problem::Empty));
    }
    let json_problem = |e: serde_json::Error| match e.classify() {
        serde_json::error::Category::Eof => Problem::Truncated {
            line: e.line(),
            column: e.column(),
        },
        _ => Problem::Corrupt(e.to_string()),
    };
    let header: Header = serde_json::from_str(text).map_err(|e| err(json_problem(e)))?;
    match header.format {
        Some(serde_json::Value::String(f)) if f == FORMAT => {}
        Some(other) => return Err(err(Problem::NotAState(other.to_string()))),
        None => return Err(err(Problem::NotAState("missing".into()))),
    }
    match header.version.as_ref().and_then(serde_json::Value::as_u64) {
        Some(v) if v > u64::from(VERSION) => {
            return Err(err(Problem::Newer {
                found: v,
                supported: VERSION,
            }))
        }
        Some(v) if v >= 1 => {}
        _ => {
            let shown = header.version.map_or("missing".into(), |v| v.to_string());
            return Err(err(Problem::BadVersion(shown)));
        }
    }
    serde_json::from_str(text).map_err(|e| err(json_problem(e)))
}

/// The longest downtime a restart accounts for [decision: 100 years].
pub const MAX_DOWNTIME: SimDuration = SimDuration::from_hours(100 * 8784);

/// Where the simulated timeline resumes after a restart: the saved instant
/// plus the wall time the twin was down, at real speed [decision: the
/// meter's RTC is battery-backed and runs at wall-clock pace while nothing
/// simulates it; `--speed` applies only while the twin runs]. A wall clock
/// that went back counts as no downtime.
///
/// Downtime is capped at [`MAX_DOWNTIME`] (a wild wall clock or save time
/// must not send the meter's clock centuries ahead).
pub fn resume_at(file: &StateFile, now_unix_ms: i64) -> SimTime {
    let down = now_unix_ms
        .saturating_sub(file.saved_unix_ms)
        .clamp(0, MAX_DOWNTIME.as_millis());
    file.sim_at.saturating_add(SimDuration::from_millis(down))
}

/// The saved meter back, as if its power had been cut at the save and
/// restored at `resume` (the twin being down is a power outage): its clock
/// ran on, missed settlements are caught up, energy did not grow.
pub fn revive(
    config: MeterConfig,
    saved: &SavedMeter,
    resume: SimTime,
) -> Result<Meter, StateProblem> {
    let mut m = Meter::restore(config, saved.state.clone()).map_err(|error| StateProblem {
        slot: saved.slot,
        error,
    })?;
    let at = m.now();
    m.power_off(at);
    m.power_on(resume.max(at));
    Ok(m)
}

/// A meter's state that cannot be restored.
#[derive(Debug, Clone, PartialEq)]
pub struct StateProblem {
    pub slot: u8,
    pub error: RestoreError,
}

impl StateProblem {
    pub fn in_file(self, path: &Path) -> StateError {
        StateError::new(
            path,
            Problem::Meter {
                slot: self.slot,
                error: self.error,
            },
        )
    }
}

/// A `--state DIR`, locked for this process.
#[derive(Debug)]
pub struct StateStore {
    dir: PathBuf,
    path: PathBuf,
    tmp: PathBuf,
    /// Held for the life of the store; the OS releases it even on SIGKILL.
    _lock: File,
}

impl StateStore {
    /// Create `dir` if needed and take its lock.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        let dir_err = |e| StateError::new(dir, Problem::Dir(e));
        fs::create_dir_all(dir).map_err(dir_err)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_NAME))
            .map_err(dir_err)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StateError::new(dir, Problem::Locked)),
            Err(fs::TryLockError::Error(e)) => return Err(dir_err(e)),
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            path: dir.join(FILE_NAME),
            tmp: dir.join(TMP_NAME),
            _lock: lock,
        })
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state, or `None` when there is no state file yet.
    pub fn load(&self) -> Result<Option<StateFile>, StateError> {
        match fs::read(&self.path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|e| {
                    StateError::new(
                        &self.path,
                        Problem::Corrupt(format!(
                            "not UTF-8 text (byte {})",
                            e.utf8_error().valid_up_to()
                        )),
                    )
                })?;
                parse(&self.path, &text).map(Some)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StateError::new(&self.path, Problem::Read(e))),
        }
    }

    /// Write `state` atomically: temporary file, fsync, rename, fsync the
    /// directory. When this returns `Ok`, the state survives a power cut.
    pub fn save(&self, state: &StateFile) -> io::Result<()> {
        let mut text = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
        text.push(b'\n');
        let mut f = File::create(&self.tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&self.tmp, &self.path)?;
        File::open(&self.dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meter::{Meter, MeterConfig};

    fn sample() -> StateFile {
        let start = chrono::NaiveDate::from_ymd_opt(2024, 3, 1)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .unwrap();
        let at = SimTime::from_datetime(start);
        let m = Meter::new(MeterConfig::default(), 3, at, start);
        StateFile {
            format: FORMAT.into(),
            version: VERSION,
            saved_unix_ms: 1_700_000_000_000,
            sim_at: at,
            meters: vec![SavedMeter {
                slot: 1,
                profile: "kpm31".into(),
                state: m.export_state(),
            }],
        }
    }

    fn problem(text: &str) -> String {
        let e = parse(Path::new("/x/state.json"), text).unwrap_err();
        let shown = e.to_string();
        assert!(shown.starts_with("state file /x/state.json: "), "{shown}");
        shown
    }

    #[test]
    fn a_state_file_round_trips() {
        let s = sample();
        let text = serde_json::to_string_pretty(&s).unwrap();
        assert_eq!(parse(Path::new("state.json"), &text).unwrap(), s);
    }

    #[test]
    fn truncated_files_are_named_as_truncated() {
        let text = serde_json::to_string_pretty(&sample()).unwrap();
        for cut in [1, text.len() / 3, text.len() / 2, text.len() - 2] {
            let e = problem(&text[..cut]);
            assert!(e.contains("truncated"), "cut at {cut}: {e}");
        }
        assert!(problem("").contains("empty"));
        assert!(problem("  \n").contains("empty"));
    }

    #[test]
    fn corrupt_files_are_named_as_corrupt() {
        let text = serde_json::to_string_pretty(&sample()).unwrap();
        let e = problem(&text.replace("\"lifetime\"", "\"lifetime\" x"));
        assert!(e.contains("corrupt"), "{e}");
        let e = problem(&text.replace("\"powered\": true", "\"powered\": 7"));
        assert!(e.contains("corrupt") && e.contains("line"), "{e}");
        let e = problem("\u{0}\u{1}binary");
        assert!(e.contains("corrupt"), "{e}");
        let e = problem(r#"{"format":"something-else","version":1}"#);
        assert!(e.contains("not a metertwin state file"), "{e}");
        let e = problem(r#"{"version":1}"#);
        assert!(e.contains("not a metertwin state file"), "{e}");
        let e = problem(r#"{"format":"metertwin-state","version":"one"}"#);
        assert!(e.contains("\"version\""), "{e}");
    }

    #[test]
    fn a_newer_version_is_refused_before_its_body_is_read() {
        let e = problem(r#"{"format":"metertwin-state","version":2,"whatever":[1,2]}"#);
        assert!(e.contains("version 2, newer"), "{e}");
    }

    #[test]
    fn saves_are_atomic_and_the_lock_is_exclusive() {
        let dir = std::env::temp_dir().join(format!("metertwin-state-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = StateStore::open(&dir).unwrap();
        assert!(store.load().unwrap().is_none());
        let s = sample();
        store.save(&s).unwrap();
        assert_eq!(store.load().unwrap(), Some(s.clone()));
        assert!(!dir.join(TMP_NAME).exists(), "no temporary file left");
        // A leftover temporary file from a crash does not matter.
        fs::write(dir.join(TMP_NAME), b"{half").unwrap();
        assert_eq!(store.load().unwrap(), Some(s.clone()));
        store.save(&s).unwrap();
        let again = StateStore::open(&dir).unwrap_err();
        assert!(matches!(again.problem, Problem::Locked), "{again}");
        drop(store);
        assert!(
            StateStore::open(&dir).is_ok(),
            "the lock goes with the store"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
