#!/usr/bin/env python3
"""Poll a running metertwin with pymodbus, as a SCADA would.

    pymodbus_check.py pty /dev/pts/N --units 1,2,3
    pymodbus_check.py tcp 127.0.0.1:5020 --units 1
    pymodbus_check.py rtu-tcp 127.0.0.1:5021 --units 1

For each unit: FC03 0000H-0002H gives password 6666, the unit's address and
baud code 4; FC01 coil 0001H shows the relay closed; FC03 0030H reads a
plausible voltage (float, high word first); FC03 0020H gives exception 02.
Prints "ok" and exits 0, or prints what went wrong and exits 1.
"""
import argparse
import sys

from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient


def client_for(transport, target):
    if transport == "pty":
        # Linux ptys cannot carry parity: 8N1.
        return ModbusSerialClient(port=target, baudrate=9600, parity="N",
                                  stopbits=1, bytesize=8, timeout=3, retries=2)
    host, port = target.rsplit(":", 1)
    framer = FramerType.RTU if transport == "rtu-tcp" else FramerType.SOCKET
    return ModbusTcpClient(host, port=int(port), framer=framer, timeout=3, retries=2)


def check(client, unit):
    rr = client.read_holding_registers(0, count=3, device_id=unit)
    if rr.isError() or list(rr.registers) != [6666, unit, 4]:
        return f"unit {unit}: FC03 0000H×3 gave {rr}"
    rc = client.read_coils(1, count=1, device_id=unit)
    if rc.isError() or not rc.bits[0]:
        return f"unit {unit}: FC01 coil 0001H gave {rc}"
    rv = client.read_holding_registers(0x30, count=2, device_id=unit)
    if rv.isError():
        return f"unit {unit}: FC03 0030H gave {rv}"
    volts = client.convert_from_registers(rv.registers, client.DATATYPE.FLOAT32)
    if not 100.0 < volts < 300.0:
        return f"unit {unit}: voltage {volts} V is implausible"
    rx = client.read_holding_registers(0x20, count=1, device_id=unit)
    if not rx.isError() or getattr(rx, "exception_code", None) != 2:
        return f"unit {unit}: FC03 0020H should give exception 02, gave {rx}"
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("transport", choices=["pty", "tcp", "rtu-tcp"])
    p.add_argument("target", help="pty path, or HOST:PORT")
    p.add_argument("--units", default="1", help="comma-separated unit ids")
    args = p.parse_args()
    client = client_for(args.transport, args.target)
    if not client.connect():
        print(f"cannot connect to {args.target}")
        return 1
    try:
        for unit in (int(u) for u in args.units.split(",")):
            problem = check(client, unit)
            if problem:
                print(problem)
                return 1
    finally:
        client.close()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
