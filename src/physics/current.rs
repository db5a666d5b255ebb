//! The current each load component draws from the supply, harmonic by
//! harmonic (the models are listed in `docs/physics.md`, "Load components").

use super::load::{Component, Excitation, Load};
use super::phasor::{Phasor, Spectrum};

impl Load {
    /// The current drawn from a supply with voltage spectrum `voltage`
    /// (fundamental at phase 0), harmonics up to `max_order` (those above are
    /// beyond the meter's anti-alias filter and left out).
    pub(crate) fn current_spectrum(&self, voltage: &Spectrum, max_order: usize) -> Spectrum {
        let mut current = Spectrum::default();
        let v1 = voltage.get(1);
        if v1.norm() <= 0.0 {
            return current;
        }
        for c in &self.components {
            add_component(&mut current, c, voltage, max_order);
        }
        current
    }
}

/// Reactive power [var] of `p` [W] at power factor `pf`, clamped into a
/// measurable range (pf in [0.01, 1]).
fn reactive_of(p: f64, pf: f64) -> f64 {
    let pf = if pf.is_finite() {
        pf.clamp(0.01, 1.0)
    } else {
        1.0
    };
    p * (1.0 - pf * pf).sqrt() / pf
}

/// cos φ of a generator exporting `p` [W] (see [`Component::Generation`]).
pub(crate) fn generation_power_factor(p: f64, rated: f64, min_pf: f64, knee: f64) -> f64 {
    let min_pf = if min_pf.is_finite() {
        min_pf.clamp(0.01, 1.0)
    } else {
        1.0
    };
    let knee = if knee.is_finite() {
        knee.clamp(0.0, 0.999)
    } else {
        0.5
    };
    if !(rated.is_finite() && rated > 0.0) {
        return min_pf;
    }
    let x = (p / rated).clamp(0.0, 1.0);
    if x <= knee {
        1.0
    } else {
        1.0 - (1.0 - min_pf) * (x - knee) / (1.0 - knee)
    }
}

/// The fundamental admittance [S] that draws `p + jq` [W, var] at
/// `u_ref` [V]: `Y = (P − jQ)/U²`.
fn admittance(p: f64, q: f64, u_ref: f64) -> Phasor {
    Phasor::new(p, -q).scale(1.0 / (u_ref * u_ref))
}

/// Finite, non-negative, or 0.
fn clean(x: f64) -> f64 {
    if x.is_finite() {
        x.max(0.0)
    } else {
        0.0
    }
}

fn add_component(current: &mut Spectrum, c: &Component, voltage: &Spectrum, max_order: usize) {
    let v1 = voltage.get(1);
    // Constant-power components draw S at the present fundamental.
    let constant_power = |p: f64, q: f64| Phasor::new(p, -q).div(v1.conj());
    let u_ref = |rated: Option<f64>| match rated {
        Some(u) if u.is_finite() && u > 0.0 => u,
        _ => v1.norm(),
    };
    let harmonics = voltage.iter().filter(|(h, _)| *h <= max_order);
    match c {
        Component::PowerSource {
            active_w,
            reactive_var,
        } => {
            if active_w.is_finite() && reactive_var.is_finite() {
                current.add(1, constant_power(*active_w, *reactive_var));
            }
        }
        Component::Resistive {
            power_w,
            rated_voltage_v,
        } => {
            let g = admittance(clean(*power_w), 0.0, u_ref(*rated_voltage_v));
            for (h, v) in harmonics {
                current.add(h, g * v);
            }
        }
        Component::Inductive {
            power_w,
            power_factor,
            rated_voltage_v,
        } => {
            let p = clean(*power_w);
            // Series R-L: Z_h = R + j·h·X.
            let z1 = Phasor::new(1.0, 0.0).div(admittance(
                p,
                reactive_of(p, *power_factor),
                u_ref(*rated_voltage_v),
            ));
            for (h, v) in harmonics {
                current.add(h, v.div(Phasor::new(z1.re, z1.im * h as f64)));
            }
        }
        Component::Capacitive {
            power_w,
            power_factor,
            rated_voltage_v,
        } => {
            let p = clean(*power_w);
            // Parallel R-C: Y_h = G + j·h·B.
            let y1 = admittance(p, -reactive_of(p, *power_factor), u_ref(*rated_voltage_v));
            for (h, v) in harmonics {
                current.add(h, Phasor::new(y1.re, y1.im * h as f64) * v);
            }
        }
        Component::NonLinear {
            power_w,
            displacement_power_factor,
            leading,
            spectrum,
        } => {
            let p = clean(*power_w);
            let q = reactive_of(p, *displacement_power_factor);
            let i1 = constant_power(p, if *leading { -q } else { q });
            current.add(1, i1);
            for h in spectrum.harmonics() {
                let order = h.order as usize;
                if order < 2
                    || order > max_order
                    || !h.ratio.is_finite()
                    || !h.phase_deg.is_finite()
                {
                    continue;
                }
                let angle = order as f64 * i1.arg() + h.phase_deg.to_radians();
                current.add(order, Phasor::polar(i1.norm() * h.ratio.max(0.0), angle));
            }
        }
        Component::Generation {
            power_w,
            rated_power_w,
            min_power_factor,
            knee_ratio,
            excitation,
        } => {
            let p = clean(*power_w);
            let pf = generation_power_factor(p, *rated_power_w, *min_power_factor, *knee_ratio);
            let q = reactive_of(p, pf);
            let q = match excitation {
                Excitation::UnderExcited => q,
                Excitation::OverExcited => -q,
            };
            current.add(1, constant_power(-p, q));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(v: f64) -> Spectrum {
        let mut s = Spectrum::default();
        s.add(1, Phasor::new(v, 0.0));
        s
    }

    /// Complex power `V·I*` of the fundamental [W, var].
    fn power(load: &Load, v: f64) -> (f64, f64) {
        let i = load.current_spectrum(&sine(v), 50).get(1);
        let s = Phasor::new(v, 0.0) * i.conj();
        (s.re, s.im)
    }

    #[test]
    fn inductive_lags_capacitive_leads() {
        let (p, q) = power(
            &Load::of([Component::Inductive {
                power_w: 1000.0,
                power_factor: 0.8,
                rated_voltage_v: None,
            }]),
            230.0,
        );
        assert!(
            (p - 1000.0).abs() < 1e-9 && (q - 750.0).abs() < 1e-9,
            "{p} {q}"
        );
        let (p, q) = power(
            &Load::of([Component::Capacitive {
                power_w: 600.0,
                power_factor: 0.6,
                rated_voltage_v: None,
            }]),
            230.0,
        );
        assert!(
            (p - 600.0).abs() < 1e-9 && (q + 800.0).abs() < 1e-9,
            "{p} {q}"
        );
    }

    #[test]
    fn rated_voltage_makes_an_impedance() {
        let heater = Load::of([Component::Resistive {
            power_w: 2000.0,
            rated_voltage_v: Some(230.0),
        }]);
        let (p, _) = power(&heater, 207.0);
        assert!((p - 2000.0 * 0.81).abs() < 1e-9, "{p}");
        let constant = Load::of([Component::Resistive {
            power_w: 2000.0,
            rated_voltage_v: None,
        }]);
        assert!((power(&constant, 207.0).0 - 2000.0).abs() < 1e-9);
    }

    #[test]
    fn generation_cos_phi_characteristic() {
        assert_eq!(generation_power_factor(1000.0, 4000.0, 0.9, 0.5), 1.0);
        assert!((generation_power_factor(3000.0, 4000.0, 0.9, 0.5) - 0.95).abs() < 1e-12);
        assert!((generation_power_factor(4000.0, 4000.0, 0.9, 0.5) - 0.9).abs() < 1e-12);
        assert!((generation_power_factor(5000.0, 4000.0, 0.9, 0.5) - 0.9).abs() < 1e-12);
        let pv = |excitation| {
            Load::of([Component::Generation {
                power_w: 4000.0,
                rated_power_w: 4000.0,
                min_power_factor: 0.9,
                knee_ratio: 0.5,
                excitation,
            }])
        };
        let q_expected = 4000.0 * (1.0f64 - 0.81).sqrt() / 0.9;
        let (p, q) = power(&pv(Excitation::UnderExcited), 230.0);
        assert!(
            (p + 4000.0).abs() < 1e-9 && (q - q_expected).abs() < 1e-9,
            "{p} {q}"
        );
        let (_, q) = power(&pv(Excitation::OverExcited), 230.0);
        assert!((q + q_expected).abs() < 1e-9);
    }
}
