//! One meter's measuring chain: synthesis → DSP → calibration errors →
//! starting-current and no-load thresholds → [`Readings`], with a cache so a
//! stationary state is synthesised and measured once.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::dsp::{self, Measured, Method, ReactiveMode};
use super::error_model::{AccuracyClass, Errors};
use super::load::Load;
use super::supply::Supply;
use super::synth::{self, Sampling, Window, DEFAULT_SAMPLE_RATE_HZ, DEFAULT_WINDOW_S};
use super::Readings;

/// Distinct (supply, load, relay) states kept measured. A few, so a load
/// that switches between two or three states (a duty-cycled heater, a
/// fridge) never re-synthesises.
const CACHE_CAPACITY: usize = 8;

/// The meter stops registering below this fraction of the starting current.
/// The standard asks a meter to start *at* its starting current; with a
/// cut-off a little below it, a meter whose current reads 0.1 % low still
/// does.
pub const STARTING_CURRENT_CUTOFF: f64 = 0.8;

/// Which sign the power factor carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerFactorSign {
    /// PF = P/S: negative when exporting (IEC convention).
    #[default]
    Active,
    /// PF = |P|/S with the sign of Q: negative when capacitive.
    Reactive,
}

/// How a meter measures: ratings, conventions and accuracy from its profile.
///
/// Build with `FrontendConfig { rated_voltage_v, max_current_a,
/// ..Default::default() }`; the defaults are the KPM31 5(60) A, 220 V.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontendConfig {
    /// Rated voltage Un [V]
    pub rated_voltage_v: f64,
    /// Maximum current Imax [A]
    pub max_current_a: f64,
    /// Starting current [A]: about 0.4 % of Ib (20 mA for Ib = 5 A). The
    /// meter registers from here up; below `STARTING_CURRENT_CUTOFF` × this
    /// it reads no current and no power.
    pub starting_current_a: f64,
    /// No-load threshold [W] (and [var] for Q): smaller |P| (|Q|) reads 0,
    /// so the meter does not creep. Keep it below Un × starting current × PF
    /// at the starting test point (2 W suits 220 V × 20 mA).
    pub no_load_power_w: f64,
    /// ADC sampling rate [Hz]
    pub sample_rate_hz: f64,
    /// Measurement window [s], rounded to whole supply cycles
    pub window_s: f64,
    /// Sampled waveforms (default) or closed-form values
    pub method: Method,
    /// Q over all harmonics or the fundamental only
    pub reactive_mode: ReactiveMode,
    /// Sign convention of the power factor
    pub power_factor_sign: PowerFactorSign,
    /// Accuracy class limits
    pub accuracy: AccuracyClass,
    /// Fixed calibration error as a fraction of the class limit: each
    /// meter's error is uniform in ±spread × class [1]
    pub calibration_spread: f64,
    /// Per-reading noise, standard deviation as a fraction of the class
    /// limit, truncated at 3σ [1]
    pub noise_sigma: f64,
    /// An ideal meter: no calibration error and no noise
    pub ideal: bool,
}

impl Default for FrontendConfig {
    fn default() -> Self {
        Self {
            rated_voltage_v: 220.0,
            max_current_a: 60.0,
            starting_current_a: 0.02,
            no_load_power_w: 2.0,
            sample_rate_hz: DEFAULT_SAMPLE_RATE_HZ,
            window_s: DEFAULT_WINDOW_S,
            method: Method::Sampled,
            reactive_mode: ReactiveMode::AllHarmonics,
            power_factor_sign: PowerFactorSign::Active,
            accuracy: AccuracyClass::KPM31,
            calibration_spread: 0.5,
            noise_sigma: 0.02,
            ideal: false,
        }
    }
}

/// How often the cache answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Measurements served from the cache [1]
    pub hits: u64,
    /// Measurements that synthesised a window [1]
    pub misses: u64,
}

#[derive(Debug, Clone)]
struct CacheEntry {
    supply: Supply,
    load: Load,
    relay_closed: bool,
    measured: Measured,
}

/// One meter's measuring chain.
#[derive(Debug, Clone)]
pub struct Frontend {
    config: FrontendConfig,
    calibration: Errors,
    /// Seeds the supply's sample noise; fixed per meter so that a state
    /// always gives the same window and the cache is invisible.
    synth_seed: u64,
    /// Readings [`measure`](Self::measure) has taken: the next one's number.
    readings_taken: u64,
    /// The key of the generator [`measure_reading`](Self::measure_reading)
    /// derives one stream per reading number from (32 bytes, not the whole
    /// generator state: a meter keeps this for its lifetime).
    noise_key: <ChaCha8Rng as SeedableRng>::Seed,
    cache: Vec<CacheEntry>,
    stats: CacheStats,
}

impl Frontend {
    /// A meter's frontend; `seed` fixes its calibration error and noise.
    pub fn new(config: FrontendConfig, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let drawn = Errors::calibration(&mut rng, &config.accuracy, config.calibration_spread);
        let synth_seed = rng.random();
        let noise_key = ChaCha8Rng::seed_from_u64(rng.random()).get_seed();
        let calibration = if config.ideal {
            Errors::default()
        } else {
            drawn
        };
        Self {
            config,
            calibration,
            synth_seed,
            readings_taken: 0,
            noise_key,
            cache: Vec::new(),
            stats: CacheStats::default(),
        }
    }

    /// Measure `load` on `supply`, with this meter's calibration error and
    /// a fresh noise draw. With the relay open no current flows, but the
    /// voltage is still measured.
    pub fn measure(&mut self, supply: &Supply, load: &Load, relay_closed: bool) -> Readings {
        let reading = self.readings_taken;
        self.readings_taken += 1;
        self.measure_reading(supply, load, relay_closed, reading)
    }

    /// As [`measure`](Self::measure), with the noise of reading number
    /// `reading`: a function of this meter's seed and `reading` only, so a
    /// meter refreshing its display once per second shows the same values
    /// at a given second however often (or rarely) it was advanced.
    pub fn measure_reading(
        &mut self,
        supply: &Supply,
        load: &Load,
        relay_closed: bool,
        reading: u64,
    ) -> Readings {
        let measured = self.measured(supply, load, relay_closed);
        let noise = if self.config.ideal {
            Errors::default()
        } else {
            let mut rng = ChaCha8Rng::from_seed(self.noise_key);
            rng.set_stream(reading);
            Errors::noise(&mut rng, &self.config.accuracy, self.config.noise_sigma)
        };
        self.readings(&measured, &noise)
    }

    /// As [`measure`](Self::measure) but without noise (the calibration
    /// error stays): the stationary value the meter integrates energy from.
    /// Draws nothing from the noise generator.
    pub fn measure_noise_free(
        &mut self,
        supply: &Supply,
        load: &Load,
        relay_closed: bool,
    ) -> Readings {
        let measured = self.measured(supply, load, relay_closed);
        self.readings(&measured, &Errors::default())
    }

    /// The sampled window this meter measures for a state (for plots and
    /// inspection; not cached).
    pub fn window(&self, supply: &Supply, load: &Load, relay_closed: bool) -> Window {
        synth::synthesize(supply, load, relay_closed, self.sampling(), self.synth_seed)
    }

    /// This meter's fixed calibration error (zero if ideal).
    pub fn calibration(&self) -> Errors {
        self.calibration
    }

    pub fn config(&self) -> &FrontendConfig {
        &self.config
    }

    pub fn cache_stats(&self) -> CacheStats {
        self.stats
    }

    /// Forget every measured state (the next measurement synthesises).
    pub fn clear_cache(&mut self) {
        self.cache.clear();
    }

    fn sampling(&self) -> Sampling {
        Sampling {
            sample_rate_hz: self.config.sample_rate_hz,
            window_s: self.config.window_s,
        }
    }

    /// The DSP's result for a state, from the cache or freshly synthesised.
    fn measured(&mut self, supply: &Supply, load: &Load, relay_closed: bool) -> Measured {
        let hit = self
            .cache
            .iter()
            .position(|e| e.relay_closed == relay_closed && e.supply == *supply && e.load == *load);
        if let Some(pos) = hit {
            self.stats.hits += 1;
            self.cache[..=pos].rotate_right(1); // most recent first
            return self.cache[0].measured;
        }
        self.stats.misses += 1;
        let measured = match self.config.method {
            Method::Sampled => dsp::measure(
                &self.window(supply, load, relay_closed),
                self.config.reactive_mode,
            ),
            Method::Analytic => dsp::analytic(
                &synth::spectra(supply, load, relay_closed, self.sampling()),
                supply,
                self.config.reactive_mode,
            ),
        };
        self.cache.truncate(CACHE_CAPACITY - 1);
        self.cache.insert(
            0,
            CacheEntry {
                supply: supply.clone(),
                load: load.clone(),
                relay_closed,
                measured,
            },
        );
        measured
    }

    /// What the meter shows: errors, then thresholds decided on the
    /// noise-free calibrated values (so a reading near a threshold does not
    /// flicker with the noise), then S and PF from the shown U, I, P, Q.
    fn readings(&self, measured: &Measured, noise: &Errors) -> Readings {
        let cfg = &self.config;
        let steady = self.calibration.apply(measured);
        let combined = Errors {
            voltage: (1.0 + self.calibration.voltage) * (1.0 + noise.voltage) - 1.0,
            current: (1.0 + self.calibration.current) * (1.0 + noise.current) - 1.0,
            active: (1.0 + self.calibration.active) * (1.0 + noise.active) - 1.0,
            reactive: (1.0 + self.calibration.reactive) * (1.0 + noise.reactive) - 1.0,
            frequency_hz: self.calibration.frequency_hz + noise.frequency_hz,
        };
        let mut shown = combined.apply(measured);
        if steady.current_a < STARTING_CURRENT_CUTOFF * cfg.starting_current_a {
            shown.current_a = 0.0;
        }
        if shown.current_a == 0.0 || steady.active_w.abs() < cfg.no_load_power_w {
            shown.active_w = 0.0;
        }
        if shown.current_a == 0.0 || steady.reactive_var.abs() < cfg.no_load_power_w {
            shown.reactive_var = 0.0;
        }
        let apparent_va = shown.voltage_v * shown.current_a;
        let power_factor = if apparent_va > 0.0 {
            let pf = (shown.active_w / apparent_va).clamp(-1.0, 1.0);
            match cfg.power_factor_sign {
                PowerFactorSign::Active => pf,
                PowerFactorSign::Reactive if shown.reactive_var < 0.0 => -pf.abs(),
                PowerFactorSign::Reactive => pf.abs(),
            }
        } else {
            1.0
        };
        Readings {
            voltage_v: shown.voltage_v,
            current_a: shown.current_a,
            active_w: shown.active_w,
            reactive_var: shown.reactive_var,
            apparent_va,
            power_factor,
            frequency_hz: shown.frequency_hz,
            overload: steady.current_a > 1.2 * cfg.max_current_a
                || steady.voltage_v > 1.2 * cfg.rated_voltage_v,
        }
    }
}
