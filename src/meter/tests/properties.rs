//! Invariants over random load histories (proptest): energy never
//! decreases; the four rate totals add up to the total; this month plus the
//! history equals the energy since the last clear (while at most 12
//! settlements happened); a freeze equals the live value at freeze time.

use proptest::prelude::*;

use super::*;
use crate::meter::energy::{Combination, EnergyBook, HistoryMode};

/// One piece of a load history: hold (P [W], Q [var]) for `ms`.
#[derive(Debug, Clone)]
struct Piece {
    p: f64,
    q: f64,
    ms: i64,
}

fn piece() -> impl Strategy<Value = Piece> {
    (
        prop_oneof![-8000.0..-10.0f64, 10.0..12000.0f64, Just(0.0)],
        -5000.0..5000.0f64,
        // up to 4 days: a run of 40 pieces crosses several settlements
        1i64..(4 * 24 * 3_600_000),
    )
        .prop_map(|(p, q, ms)| Piece { p, q, ms })
}

fn all_energies(b: &EnergyBook) -> [f64; 16] {
    let mut out = [0.0; 16];
    for r in 0..4 {
        for d in 0..2 {
            out[r * 2 + d] = b.active[r][d];
            out[8 + r * 2 + d] = b.reactive[r][d];
        }
    }
    out
}

fn config(c: Combination, mode: HistoryMode) -> MeterConfig {
    MeterConfig {
        combination_active: c,
        combination_reactive: c,
        history_mode: mode,
        ..MeterConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn energy_never_decreases_and_rates_add_up(
        pieces in prop::collection::vec(piece(), 1..40),
        c in prop_oneof![
            Just(Combination::ImportPlusExport),
            Just(Combination::ImportMinusExport),
            Just(Combination::ImportOnly),
        ],
    ) {
        let mut b = Bench::with_config(config(c, HistoryMode::Consumption), "2025-01-20 07:13:00");
        let mut before = all_energies(b.m.lifetime());
        for piece in &pieces {
            let now = b.m.now();
            b.m.set_load(now, Load::power(piece.p, piece.q));
            b.m.advance_to(now + SimDuration::from_millis(piece.ms));
            let after = all_energies(b.m.lifetime());
            for (i, (x, y)) in before.iter().zip(after.iter()).enumerate() {
                prop_assert!(y >= x, "register {} went from {} to {}", i, x, y);
            }
            before = after;
            let s = b.snap();
            let rates: f64 = Rate::ALL.iter().map(|&r| s.rate_active_kwh(r)).sum();
            let total = s.total_active_kwh();
            prop_assert!((rates - total).abs() <= 1e-9 * total.abs().max(1.0),
                "active rates {} vs total {}", rates, total);
            let rates: f64 = Rate::ALL.iter().map(|&r| s.rate_reactive_kvarh(r)).sum();
            let total = s.total_reactive_kvarh();
            prop_assert!((rates - total).abs() <= 1e-9 * total.abs().max(1.0),
                "reactive rates {} vs total {}", rates, total);
            let imp_exp = s.import_active_kwh() + s.export_active_kwh();
            prop_assert!(s.import_active_kwh() >= 0.0 && s.export_active_kwh() >= 0.0);
            if c == Combination::ImportPlusExport {
                prop_assert!((imp_exp - s.total_active_kwh()).abs() <= 1e-9 * imp_exp.max(1.0));
            }
        }
    }

    #[test]
    fn this_month_plus_history_is_the_energy_since_the_clear(
        pieces in prop::collection::vec(piece(), 1..40),
        clear_after in 0usize..40,
    ) {
        let mut b = Bench::new("2025-01-20 07:13:00");
        let mut settled = 0;
        for (i, piece) in pieces.iter().enumerate() {
            let now = b.m.now();
            if i == clear_after {
                b.m.apply(now, Command::ClearEnergy).unwrap();
                settled = 0;
            }
            b.m.set_load(now, Load::power(piece.p, piece.q));
            b.m.advance_to(now + SimDuration::from_millis(piece.ms));
            settled += settlements(&b.m.take_events()).len();
            let s = b.snap();
            let sum = s.months.iter().fold(EnergyBook::default(), |acc, m| acc.plus(m));
            if settled <= 12 {
                for (x, y) in all_energies(&sum).iter().zip(all_energies(&s.lifetime).iter()) {
                    prop_assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0),
                        "history {} vs lifetime {} after {} settlements", x, y, settled);
                }
            }
        }
    }

    #[test]
    fn a_freeze_equals_the_live_value_at_freeze_time(
        pieces in prop::collection::vec(piece(), 1..30),
        cumulative in any::<bool>(),
    ) {
        let mode = if cumulative { HistoryMode::Cumulative } else { HistoryMode::Consumption };
        let c = Combination::ImportPlusExport;
        let mut b = Bench::with_config(config(c, mode), "2025-01-25 00:00:00");
        for piece in &pieces {
            let now = b.m.now();
            b.m.set_load(now, Load::power(piece.p, piece.q));
            let end = now + SimDuration::from_millis(piece.ms);
            // Stop exactly at every settlement on the way, and compare the
            // live value there with what the freeze kept.
            while b.m.now() < end {
                let next = b.m.poll_at().map_or(end, |d| d.min(end));
                let this_month = b.snap().months[0];
                let live = *b.m.lifetime();
                // Just before `next`: this month as it will be at `next`.
                b.m.advance_to(next);
                let frozen = settlements(&b.m.take_events());
                if frozen.is_empty() {
                    continue;
                }
                let s = b.snap();
                let kept = s.months[1];
                let expected = match mode {
                    // The freeze instant itself: the lifetime right then.
                    HistoryMode::Cumulative => s.lifetime,
                    // This month just before, plus the last span's energy.
                    HistoryMode::Consumption => {
                        let mut e = this_month;
                        let spent = s.lifetime;
                        for r in 0..4 {
                            for d in 0..2 {
                                e.active[r][d] += spent.active[r][d] - live.active[r][d];
                                e.reactive[r][d] += spent.reactive[r][d] - live.reactive[r][d];
                            }
                        }
                        e
                    }
                };
                for (x, y) in all_energies(&kept).iter().zip(all_energies(&expected).iter()) {
                    prop_assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0),
                        "frozen {} vs live {}", x, y);
                }
                prop_assert_eq!(s.months[0].active_total(c), if cumulative { s.lifetime.active_total(c) } else { 0.0 });
            }
        }
    }
}
