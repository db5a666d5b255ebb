//! The binary on port 0, read and written with the tokio-modbus client.

use tokio_modbus::client::{tcp, Context, Reader, Writer};
use tokio_modbus::{ExceptionCode, Slave};

use crate::support::{f32_at, Twin};

async fn connect(twin: &Twin, unit: u8) -> Context {
    tcp::connect_slave(twin.tcp(), Slave(unit))
        .await
        .expect("connect")
}

#[tokio::test]
async fn reads_consistent_measurements_and_energy() {
    let twin = Twin::start(&["--speed", "3600"]);
    let mut ctx = connect(&twin, 1).await;
    let m = ctx
        .read_holding_registers(0x0030, 14)
        .await
        .expect("io")
        .expect("no exception");
    let (u, i, p, q, s, pf, f) = (
        f32_at(&m, 0),
        f32_at(&m, 2),
        f32_at(&m, 4),
        f32_at(&m, 6),
        f32_at(&m, 8),
        f32_at(&m, 10),
        f32_at(&m, 12),
    );
    assert!((u - 220.0).abs() < 5.0, "U = {u}");
    assert!((f - 50.0).abs() < 0.1, "F = {f}");
    assert!(
        p > 0.0 && q > 0.0,
        "household imports, lagging: P = {p}, Q = {q}"
    );
    assert!((s - u * i).abs() / s < 0.01, "S = {s}, U·I = {}", u * i);
    assert!((pf - p / s).abs() < 0.01, "PF = {pf}");
    let e = ctx
        .read_holding_registers(0x0080, 28)
        .await
        .expect("io")
        .expect("no exception");
    let total = f32_at(&e, 0);
    let (import, export) = (f32_at(&e, 2), f32_at(&e, 4));
    assert!(
        (total - (import + export)).abs() <= 1e-4 * total.max(1.0),
        "total {total} vs {import} + {export}"
    );
    let rates: f32 = (0..4).map(|k| f32_at(&e, 12 + 2 * k)).sum();
    assert!(
        (rates - total).abs() <= 1e-4 * total.max(1.0),
        "rates {rates} vs total {total}"
    );
}

#[tokio::test]
async fn energy_grows_as_simulated_time_runs() {
    let twin = Twin::start_raw(&["--tcp", "127.0.0.1:0", "--speed", "36000"]);
    let mut ctx = connect(&twin, 1).await;
    let first = f32_at(
        &ctx.read_holding_registers(0x0080, 2)
            .await
            .unwrap()
            .unwrap(),
        0,
    );
    // Poll (each read is a round trip) until the runner publishes newer
    // energy; at 36000× a published tick of 100 ms is 1 h of simulated time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut later = first;
    while later <= first && std::time::Instant::now() < deadline {
        later = f32_at(
            &ctx.read_holding_registers(0x0080, 2)
                .await
                .unwrap()
                .unwrap(),
            0,
        );
    }
    assert!(later > first, "energy stayed at {first}");
}

/// Readings refresh once per simulated second with fresh noise: at real
/// speed, a client polling the voltage sees it change within a few seconds
/// while the (hourly) household load stays put, and stay inside U's
/// accuracy class around the supply's 220 V.
#[tokio::test]
async fn readings_refresh_every_second_at_real_speed() {
    let twin = Twin::start(&[]);
    let mut ctx = connect(&twin, 1).await;
    let read_u = |m: Vec<u16>| f32_at(&m, 0);
    let first = read_u(
        ctx.read_holding_registers(0x0030, 2)
            .await
            .unwrap()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut later = first;
    while later == first && std::time::Instant::now() < deadline {
        later = read_u(
            ctx.read_holding_registers(0x0030, 2)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert_ne!(later, first, "U stayed at {first} V for 10 s");
    for u in [first, later] {
        // Calibration (±0.5 × 0.2 %) plus 3σ noise: well inside ±0.2 %.
        assert!((u - 220.0).abs() <= 0.44, "U = {u} V");
    }
}

#[tokio::test]
async fn writes_settings_and_the_relay_coil() {
    let twin = Twin::start(&[]);
    let mut ctx = connect(&twin, 1).await;
    assert_eq!(
        ctx.read_coils(0x0001, 1).await.unwrap().unwrap(),
        vec![true]
    );
    ctx.write_single_coil(0x0001, false).await.unwrap().unwrap();
    assert_eq!(
        ctx.read_coils(0x0001, 1).await.unwrap().unwrap(),
        vec![false]
    );
    let m = ctx
        .read_holding_registers(0x0032, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(f32_at(&m, 0), 0.0, "relay open → no current");
    let status = ctx
        .read_holding_registers(0x040D, 1)
        .await
        .unwrap()
        .unwrap()[0];
    assert_eq!(status & 1, 0, "status bit 0 follows the relay");
    assert_eq!(
        ctx.read_holding_registers(0x0416, 1)
            .await
            .unwrap()
            .unwrap(),
        vec![1],
        "opened remotely"
    );
    ctx.write_single_coil(0x0001, true).await.unwrap().unwrap();
    assert_eq!(
        ctx.read_coils(0x0001, 1).await.unwrap().unwrap(),
        vec![true]
    );

    ctx.write_multiple_registers(0x0000, &[1234])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ctx.read_holding_registers(0x0000, 3)
            .await
            .unwrap()
            .unwrap(),
        vec![1234, 1, 4]
    );
    ctx.write_multiple_registers(0x0410, &[2030, 6, 15, 12, 30, 0])
        .await
        .unwrap()
        .unwrap();
    let clock = ctx
        .read_holding_registers(0x0410, 6)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&clock[..5], &[2030, 6, 15, 12, 30]);

    // Local mode: the remote relay command is refused with 04.
    ctx.write_multiple_registers(0x0401, &[1])
        .await
        .unwrap()
        .unwrap();
    let refused = ctx.write_single_coil(0x0001, false).await.unwrap();
    assert_eq!(refused, Err(ExceptionCode::ServerDeviceFailure));
}

#[tokio::test]
async fn every_exception_case_gets_its_code() {
    let twin = Twin::start(&[]);
    let mut ctx = connect(&twin, 1).await;
    let addr = ExceptionCode::IllegalDataAddress;
    let value = ExceptionCode::IllegalDataValue;
    assert_eq!(
        ctx.read_holding_registers(0x0020, 2).await.unwrap(),
        Err(addr),
        "unmapped"
    );
    assert_eq!(
        ctx.read_holding_registers(0x003C, 4).await.unwrap(),
        Err(addr),
        "crosses the block end"
    );
    assert_eq!(
        ctx.read_holding_registers(0x0003, 2).await.unwrap(),
        Ok(vec![0, 0]),
        "reserved reads 0"
    );
    assert_eq!(
        ctx.write_multiple_registers(0x0030, &[0, 0]).await.unwrap(),
        Err(addr),
        "read-only"
    );
    assert_eq!(
        ctx.write_multiple_registers(0x0005, &[1]).await.unwrap(),
        Err(addr),
        "reserved"
    );
    assert_eq!(
        ctx.write_multiple_registers(0x0001, &[248]).await.unwrap(),
        Err(value),
        "address 248"
    );
    assert_eq!(
        ctx.write_multiple_registers(0x0002, &[5]).await.unwrap(),
        Err(value),
        "baud code 5"
    );
    assert_eq!(
        ctx.write_multiple_registers(0x000C, &[0x1234])
            .await
            .unwrap(),
        Err(value),
        "wrong command word"
    );
    assert_eq!(
        ctx.read_coils(0x0002, 1).await.unwrap(),
        Err(addr),
        "no such coil"
    );
    assert_eq!(
        ctx.read_holding_registers(0x0000, 126).await.unwrap(),
        Err(value),
        "126 registers"
    );
    assert_eq!(
        ctx.read_discrete_inputs(0x0000, 1).await.unwrap(),
        Err(ExceptionCode::IllegalFunction)
    );
    let mut other = connect(&twin, 9).await;
    assert_eq!(
        other.read_holding_registers(0x0030, 2).await.unwrap(),
        Err(ExceptionCode::GatewayTargetDevice),
        "no meter at unit 9"
    );
}
