"""Move the register after an ECP5 block-RAM read into the block's own output register (REGMODE OUTREG).

Yosys 0.70 maps a registered read onto a DP16KD/PDPW16KD with REGMODE NOREG and has no way to use the
block's output register, so ``rd <= mem[a]; q <= rd`` leaves ``q`` in the fabric. The block's
unregistered clock-to-out (5.6 ns in nextpnr's ECP5 timing) then shares one cycle with the route to
``q``, which the placer may put far away (CNV W1A1: 75 columns, the critical path at 100 MHz). A read
port all of whose used data bits drive exactly one flip-flop each, on the block's clock, never reset
and powering up at zero, is that register: the port becomes OUTREG, its output-register enable is the
flip-flops' enable, its data bits take the flip-flops' nets, and the flip-flops go. Cycle behaviour is
unchanged: the output register loads the read latch when the flip-flops would have.

This works on the yosys JSON netlist between synthesis and nextpnr; everything else passes through.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from hwkit.atomic import write_text_atomic


@dataclass(frozen=True)
class ReadPort:
    regmode: str          # the parameter choosing NOREG / OUTREG
    clock: str
    clock_mux: str        # the parameter that would invert the clock
    reset: str
    out_enable: str
    data: tuple           # output pins, bit 0 first


def _pins(stem: str, n: int) -> tuple:
    return tuple(f"{stem}{i}" for i in range(n))


READ_PORTS = {
    "DP16KD": (ReadPort("REGMODE_A", "CLKA", "CLKAMUX", "RSTA", "OCEA", _pins("DOA", 18)),
               ReadPort("REGMODE_B", "CLKB", "CLKBMUX", "RSTB", "OCEB", _pins("DOB", 18))),
    "PDPW16KD": (ReadPort("REGMODE", "CLKR", "CLKRMUX", "RST", "OCER", _pins("DO", 36)),),
}


def _param(cell: dict, name: str, default: str) -> str:
    # yosys writes a string parameter as itself, with a trailing space when it looks like a bit string
    return str(cell.get("parameters", {}).get(name, default)).rstrip()


def _loads(cells: dict) -> dict:
    """{net bit: [(cell name, port)]} for every input pin."""
    loads = defaultdict(list)
    for name, cell in cells.items():
        dirs = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            if dirs.get(port) != "output":
                for b in bits:
                    if isinstance(b, int):
                        loads[b].append((name, port))
    return loads


def _plain_register(ff: dict, clock) -> bool:
    """A TRELLIS_FF on ``clock`` (same edge), never set or reset, powering up at zero."""
    c = ff["connections"]
    return (ff["type"] == "TRELLIS_FF" and c.get("CLK") == clock and _param(ff, "CLKMUX", "CLK") == "CLK"
            and _param(ff, "REGSET", "RESET") == "RESET" and _param(ff, "CEMUX", "CE") in ("CE", "1")
            and _param(ff, "LSRMUX", "LSR") == "LSR" and c.get("LSR", ["0"]) == ["0"])


def _enable(ff: dict) -> tuple:
    return ("1",) if _param(ff, "CEMUX", "CE") == "1" else tuple(ff["connections"]["CE"])


def _absorb_port(cells: dict, block: dict, port: ReadPort, loads: dict, ports: set) -> list:
    """The flip-flops that become ``port``'s output register ([] when the port does not qualify)."""
    conn = block["connections"]
    if _param(block, port.regmode, "NOREG") != "NOREG" or _param(block, port.clock_mux, port.clock) != port.clock:
        return []
    if conn.get(port.reset, ["0"]) != ["0"]:
        return []
    regs = {}
    for pin in port.data:
        bit = conn.get(pin, ["x"])[0]
        if not isinstance(bit, int) or not loads.get(bit):
            continue                                   # an unused output bit
        sinks = loads[bit]
        if bit in ports or len(sinks) != 1 or sinks[0][1] != "DI":
            return []
        ff = cells[sinks[0][0]]
        if not _plain_register(ff, conn.get(port.clock)):
            return []
        regs[pin] = sinks[0][0]
    enables = {_enable(cells[r]) for r in regs.values()}
    if not regs or len(enables) != 1:
        return []
    for pin, r in regs.items():
        conn[pin] = list(cells[r]["connections"]["Q"])
    conn[port.out_enable] = list(enables.pop())
    block["parameters"][port.regmode] = "OUTREG"
    return list(regs.values())


def absorb_output_registers(netlist: dict, top: str) -> int:
    """Rewrite ``netlist`` (a yosys JSON dict) in place; returns the number of flip-flops moved into
    block-RAM output registers."""
    module = netlist["modules"][top]
    cells = module["cells"]
    ports = {b for p in module.get("ports", {}).values() for b in p["bits"] if isinstance(b, int)}
    loads = _loads(cells)
    moved = []
    for name in sorted(cells):
        block = cells[name]
        for port in READ_PORTS.get(block["type"], ()):
            moved += _absorb_port(cells, block, port, loads, ports)
    for r in moved:
        del cells[r]
    return len(moved)


def absorb_in_file(path: Path, top: str) -> int:
    """:func:`absorb_output_registers` on a netlist file, rewritten only when something moved."""
    netlist = json.loads(Path(path).read_text())
    moved = absorb_output_registers(netlist, top)
    if moved:
        write_text_atomic(path, json.dumps(netlist) + "\n")
    return moved
