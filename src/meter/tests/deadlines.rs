//! `poll_at()`: the exact next instant the meter changes by itself, and
//! fast-forward from deadline to deadline giving the same result as small
//! steps (STYLE habit 2).

use super::*;

#[test]
fn the_next_tariff_boundary() {
    let b = Bench::new("2025-03-10 05:00:00");
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 06:00:00.000"));
    let b = Bench::new("2025-03-10 23:00:00");
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-11 06:00:00.000"));
}

#[test]
fn the_settlement_when_it_comes_first() {
    let b = Bench::new("2025-01-31 23:30:00");
    assert_eq!(b.poll_at().as_deref(), Some("2025-02-01 00:00:00.000"));
}

#[test]
fn the_earliest_of_all_deadlines_wins() {
    // 08:00, local, 1 kWh at 2 kW → balance at 0 at 08:30; the tariff's
    // next boundary is 10:00; a panel session ends 30 s after its last key;
    // load control 30 s after the load rises above the threshold.
    let mut b = Bench::new("2025-03-10 08:00:00");
    b.local_mode("2025-03-10 08:00:00")
        .top_up("2025-03-10 08:00:00", 1.0)
        .load_kw("2025-03-10 08:00:00", 2.0);
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 08:30:00.000"));
    b.panel("2025-03-10 08:10:00", PanelOp::EnterPassword(6666))
        .unwrap();
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 08:10:30.000"));
    b.run_to("2025-03-10 08:10:30");
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 08:30:00.000"));
    b.apply("2025-03-10 08:20:00", Command::SetLoadThreshold(1.5))
        .unwrap();
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 08:20:30.000"));
}

#[test]
fn the_balance_deadline_follows_a_change_of_power() {
    let mut b = Bench::new("2025-03-10 08:00:00");
    b.local_mode("2025-03-10 08:00:00")
        .top_up("2025-03-10 08:00:00", 1.0)
        .load_kw("2025-03-10 08:00:00", 2.0);
    // After 6 min at 2 kW (0.2 kWh), 0.8 kWh at 4 kW takes 12 min.
    b.load_kw("2025-03-10 08:06:00", 4.0);
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 08:18:00.000"));
    // At 0.5 kW after 3 more min (0.6 kWh left) it takes 72 min.
    b.load_kw("2025-03-10 08:09:00", 0.5);
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 09:21:00.000"));
    b.run_to("2025-03-10 09:21:00");
    assert!(!b.relay_closed());
}

#[test]
fn deadlines_are_whole_milliseconds_after_an_awkward_split() {
    // 1 kWh at 2 kW, broken by an outage and a change of load at awkward
    // fractions of the balance: the remaining time must still come out exact.
    let mut b = Bench::new("2025-03-10 08:00:00");
    b.local_mode("2025-03-10 08:00:00")
        .top_up("2025-03-10 08:00:00", 1.0)
        .load_kw("2025-03-10 08:00:00", 2.0);
    b.m.power_off(t("2025-03-10 08:10:00"));
    b.m.power_on(t("2025-03-10 09:10:00"));
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 09:30:00.000"));
    b.load_kw("2025-03-10 09:17:00", 3.0);
    // 17 min at 2 kW have used 17/30 kWh; 13/30 kWh at 3 kW take 13/90 h = 520 s.
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 09:25:40.000"));
}

#[test]
fn jumping_from_deadline_to_deadline_equals_small_steps() {
    let scenario = |step: Option<SimDuration>| {
        let mut b = Bench::new("2025-01-30 20:00:00");
        b.local_mode("2025-01-30 20:00:00")
            .top_up("2025-01-30 20:00:00", 8.0)
            .load("2025-01-30 20:00:00", 2500.0, 300.0);
        b.apply("2025-01-30 20:00:00", Command::SetLoadThreshold(4.0))
            .unwrap();
        let end = t("2025-02-02 00:00:00");
        // 8 kWh at 2.5 kW: reminder at 23:12:00, reconnect 23:12:10; from
        // 00:00 1 kW; 4.5 kW above the 4 kW threshold from 02:00.
        let mut changes = vec![
            (t("2025-01-31 00:00:00"), 1000.0),
            (t("2025-01-31 02:00:00"), 4500.0),
            (t("2025-01-31 02:00:50"), 1000.0),
        ];
        changes.reverse();
        match step {
            None => {
                // Event-driven: jump to the next deadline or input change.
                while b.m.now() < end {
                    let next_change = changes.last().map_or(end, |c| c.0);
                    let next = b.m.poll_at().map_or(next_change, |d| d.min(next_change));
                    b.m.advance_to(next);
                    if changes.last().is_some_and(|c| c.0 == next) {
                        let (at, p) = changes.pop().unwrap();
                        b.m.set_load(at, Load::power(p, 300.0));
                    }
                }
            }
            Some(step) => {
                while b.m.now() < end {
                    let next = b.m.now() + step;
                    if changes.last().is_some_and(|c| c.0 <= next) {
                        let (at, p) = changes.pop().unwrap();
                        b.m.set_load(at, Load::power(p, 300.0));
                    }
                    b.m.advance_to(next.min(end));
                }
            }
        }
        (b.snap(), b.raw_events())
    };
    let (fast, fast_events) = scenario(None);
    let (slow, slow_events) = scenario(Some(SimDuration::from_millis(997)));
    // Energy is summed in different pieces: equal to rounding.
    assert_close(
        fast.import_active_kwh(),
        slow.import_active_kwh(),
        1e-12,
        "import",
    );
    assert_close(
        fast.months[1].active_total(fast.combination_active),
        slow.months[1].active_total(slow.combination_active),
        1e-12,
        "January",
    );
    assert_close(fast.residual_kwh, slow.residual_kwh, 1e-12, "balance");
    assert_eq!(fast.relay_closed, slow.relay_closed);
    // Every event at the same millisecond.
    assert_eq!(fast_events, slow_events);
    let at = |name: &str| {
        fast_events
            .iter()
            .filter(|e| e.kind.name() == name)
            .map(|e| e.at.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(at("prepay_reminder"), vec![ms("2025-01-30 23:12:00")]);
    assert_eq!(at("load_cut"), vec![ms("2025-01-31 02:00:30")]);
    assert_eq!(at("settlement"), vec![ms("2025-02-01 00:00:00")]);
    assert!(!fast.relay_closed, "the load cut holds to the end");
}
