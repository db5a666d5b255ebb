#!/usr/bin/env python3
"""The reference Python server of the benchmark: pymodbus 3.x, asyncio.

    pymodbus_server.py tcp [PORT]       Modbus TCP on 127.0.0.1 (0: any free port)
    pymodbus_server.py rtu DEVICE       Modbus RTU on a serial device / pty, 9600 8N1

Serves holding registers 0000H-019FH (the measurement block at 0030H and the
history blocks from 009CH) with fixed values, and coil 0001H, at unit 1.
Prints one JSON line when serving, as metertwin does:
    {"event":"ready","tcp":"127.0.0.1:PORT"}   or   {"event":"ready","rtu":"DEVICE"}
"""
import asyncio
import json
import logging
import signal
import sys

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

N_HOLDING = 0x01A0


def context():
    """Unit 1: coils 0000H-000FH (0001H on), holding registers 0000H-019FH."""
    words = [(i * 7) & 0xFFFF for i in range(N_HOLDING)]
    words[0x30:0x32] = [0x435C, 0x0000]  # 220.0 V, float, high word first
    coils = [SimData(0, values=[False, True] + [False] * 14, datatype=DataType.BITS)]
    holding = [SimData(0, values=words, datatype=DataType.REGISTERS)]
    inputs = [SimData(0, values=[False] * 16, datatype=DataType.BITS)]
    return SimDevice(id=1, simdata=(coils, inputs, holding, [SimData(0, values=[0], datatype=DataType.REGISTERS)]))


async def main(argv):
    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    mode = argv[1] if len(argv) > 1 else "tcp"
    if mode == "tcp":
        port = int(argv[2]) if len(argv) > 2 else 0
        server = ModbusTcpServer(context(), framer=FramerType.SOCKET,
                                 address=("127.0.0.1", port))
        await server.listen()
        sock = server.transport.sockets[0]
        ready = {"event": "ready", "tcp": "127.0.0.1:%d" % sock.getsockname()[1]}
    elif mode == "rtu":
        server = ModbusSerialServer(context(), framer=FramerType.RTU, port=argv[2],
                                    baudrate=9600, bytesize=8, parity="N", stopbits=1)
        await server.listen()
        ready = {"event": "ready", "rtu": argv[2]}
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(ready), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv)))
