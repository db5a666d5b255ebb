//! Test helpers: a station of real meters, served by a running runner.

use std::sync::Arc;

use crate::meter::Meter;
use crate::modbus::{Station, UnknownUnit};
use crate::profile::Profile;
use crate::runtime::{DefaultHousehold, Runner, SimClock};
use crate::time::SimTime;

/// A station with one `kpm31` meter per address, its runner spawned on the
/// current tokio runtime. Unknown units get exception 0BH (TCP default).
pub fn station(addresses: &[u8]) -> Arc<Station> {
    let profile = Profile::resolve("kpm31").expect("built-in profile");
    let clock = chrono::NaiveDate::from_ymd_opt(2024, 3, 1)
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .expect("date");
    let start = SimTime::from_datetime(clock);
    let mut runner = Runner::new(SimClock::new(start, 1.0));
    let handles = addresses
        .iter()
        .map(|&a| {
            let mut config = profile.meter.clone();
            config.default_settings.address = a;
            runner.add(
                Meter::new(config, u64::from(a), start, clock),
                Arc::new(profile.map.clone()),
                Box::new(DefaultHousehold::default()),
            )
        })
        .collect();
    tokio::spawn(runner.run(std::future::pending()));
    Arc::new(Station::new(handles, UnknownUnit::GatewayException))
}
