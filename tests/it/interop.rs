//! Interoperability with masters people use: mbpoll and pymodbus over the
//! twin's own pty (8N1: Linux ptys cannot carry parity) and over TCP /
//! RTU over TCP, and the tokio-modbus client. Tests needing mbpoll or python
//! skip with a notice when the tool is missing, and fail instead under
//! METERTWIN_REQUIRE_TOOLS=1 (CI).

use std::process::Command;

use tokio_modbus::prelude::*;

use crate::support::{have, have_pymodbus, Twin};

const THREE_METERS: &[&str] = &[
    "--pty",
    "--parity",
    "none",
    "--rtu-tcp",
    "127.0.0.1:0",
    "--meter",
    "1",
    "--meter",
    "2",
    "--meter",
    "3=kpm31c",
];

/// mbpoll's values for `-r 1 -c 3`, one per line "[n]: \tvalue".
fn mbpoll(args: &[&str]) -> Vec<String> {
    let out = Command::new("mbpoll")
        .args(args)
        .output()
        .expect("run mbpoll");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mbpoll {args:?} failed:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter_map(|l| l.split_once("]:").map(|(_, v)| v.trim().to_string()))
        .collect()
}

#[test]
fn mbpoll_reads_three_meters_on_the_pty_and_over_tcp() {
    if !have("mbpoll", &["-V"]) {
        return;
    }
    let twin = Twin::start(THREE_METERS);
    let pty = twin.endpoint("pty");
    for unit in ["1", "2", "3"] {
        let values = mbpoll(&[
            "-m", "rtu", "-b", "9600", "-P", "none", "-a", unit, "-t", "4", "-r", "1", "-c", "3",
            "-1", "-o", "3", &pty,
        ]);
        assert_eq!(values, ["6666", unit, "4"], "pty, unit {unit}");
    }
    let tcp = twin.socket("tcp");
    let port = tcp.port().to_string();
    for unit in ["1", "2", "3"] {
        let values = mbpoll(&[
            "-m",
            "tcp",
            "-p",
            &port,
            "-a",
            unit,
            "-t",
            "4",
            "-r",
            "1",
            "-c",
            "3",
            "-1",
            "-o",
            "3",
            "127.0.0.1",
        ]);
        assert_eq!(values, ["6666", unit, "4"], "tcp, unit {unit}");
    }
}

fn pymodbus(transport: &str, target: &str, units: &str) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/pymodbus_check.py"
    );
    let out = Command::new("python3")
        .args([script, transport, target, "--units", units])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "pymodbus over {transport}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pymodbus_reads_three_meters_on_the_pty_tcp_and_rtu_over_tcp() {
    if !have_pymodbus() {
        return;
    }
    let twin = Twin::start(THREE_METERS);
    pymodbus("pty", &twin.endpoint("pty"), "1,2,3");
    pymodbus("tcp", &twin.endpoint("tcp"), "1,2,3");
    pymodbus("rtu-tcp", &twin.endpoint("rtu_tcp"), "1,2,3");
}

/// `--frame-end length` (answer as soon as the request is complete) with
/// the masters a CI fixture would use: pymodbus on the pty and over RTU
/// over TCP, mbpoll on the pty.
#[test]
fn pymodbus_and_mbpoll_with_frame_end_length() {
    let mut args = THREE_METERS.to_vec();
    args.extend_from_slice(&["--frame-end", "length"]);
    let twin = Twin::start(&args);
    if have_pymodbus() {
        pymodbus("pty", &twin.endpoint("pty"), "1,2,3");
        pymodbus("rtu-tcp", &twin.endpoint("rtu_tcp"), "1,2,3");
    }
    if have("mbpoll", &["-V"]) {
        let pty = twin.endpoint("pty");
        for unit in ["1", "2", "3"] {
            let values = mbpoll(&[
                "-m", "rtu", "-b", "9600", "-P", "none", "-a", unit, "-t", "4", "-r", "1", "-c",
                "3", "-1", "-o", "3", &pty,
            ]);
            assert_eq!(values, ["6666", unit, "4"], "pty, unit {unit}");
        }
    }
}

#[tokio::test]
async fn tokio_modbus_client_over_tcp_and_the_pty() {
    use tokio_serial::SerialPortBuilderExt;
    let twin = Twin::start(THREE_METERS);
    let mut ctx = tokio_modbus::client::tcp::connect_slave(twin.socket("tcp"), Slave(2))
        .await
        .expect("connect");
    let regs = ctx
        .read_holding_registers(0, 3)
        .await
        .expect("io")
        .expect("no exception");
    assert_eq!(regs, [6666, 2, 4]);
    let ex = ctx.read_holding_registers(0x20, 1).await.expect("io");
    assert_eq!(ex, Err(ExceptionCode::IllegalDataAddress));
    ctx.set_slave(Slave(3));
    let coils = ctx
        .read_coils(1, 1)
        .await
        .expect("io")
        .expect("no exception");
    assert!(coils[0], "relay closed");

    let port = tokio_serial::new(twin.endpoint("pty"), 9600)
        .open_native_async()
        .expect("open pty");
    let mut rtu = tokio_modbus::client::rtu::attach_slave(port, Slave(1));
    let regs = rtu
        .read_holding_registers(0, 3)
        .await
        .expect("io")
        .expect("no exception");
    assert_eq!(regs, [6666, 1, 4]);
    rtu.set_slave(Slave(3));
    let fc06 = rtu.write_single_register(0, 4321).await.expect("io");
    assert_eq!(
        fc06,
        Err(ExceptionCode::IllegalFunction),
        "FC06 is not served"
    );
    let regs = rtu
        .read_holding_registers(1, 1)
        .await
        .expect("io")
        .expect("no exception");
    assert_eq!(regs, [3]);
}
