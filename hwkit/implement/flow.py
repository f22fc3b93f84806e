"""The open implementation flow: yosys synth_<family> -> fit check -> nextpnr -> ecppack/icepack.

``implement`` takes Verilog sources, data files and a top module for a named part; ``implement_board``
wraps a generated ``hwkit_core`` in the UART board top for a catalogue board and implements that.
Everything runs inside one build directory with relative paths (YoWASP), fixed seeds and no
timestamps, so the same inputs give a byte-identical bitstream.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

from hwkit.errors import ConfigError
from hwkit.implement.parts import check_fit, part_resources
from hwkit.implement.policy import nodsp_retry, retime_limit_mhz, timing_missed
from hwkit.implement.wrapper import TOP, CoreShape, led_active_low, wrapper_sources, write_wrapper

BITSTREAM_SUFFIX = {"ecp5": ".bit", "ice40": ".bin"}


@dataclass
class ImplementResult:
    family: str
    device: str
    package: str
    top: str
    bitstream: Path
    bitstream_bytes: int
    bitstream_sha256: str
    fmax_mhz: Optional[float]           # slowest clock after routing
    fmax_by_clock: dict
    target_mhz: float
    timing_met: bool
    synth: dict                         # yosys cell counts (hwkit.tools.yosys.SynthResult.as_dict())
    fit: dict                           # pre-P&R need vs part: {resource: {"used", "available"}}
    utilization: dict                   # nextpnr after P&R: {bel type: {"used", "available"}}
    seconds: dict                       # synth / pnr / pack
    versions: dict
    logs: dict
    notes: list = field(default_factory=list)

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["bitstream"] = self.bitstream.name
        d["logs"] = {k: Path(v).name for k, v in self.logs.items()}
        return d


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _versions(family: str) -> dict:
    from hwkit.tools import nextpnr, yosys

    return {"yosys": yosys.version(), f"nextpnr-{family}": nextpnr.version(family)}


def implement(
    sources: Sequence[Path],
    top: str,
    out_dir: Path,
    *,
    family: str,
    device: str,
    package: str,
    constraints: Path,
    freq_mhz: float,
    data_files: Sequence[Path] = (),
    available: Optional[dict] = None,
    part_name: Optional[str] = None,
    speed: Optional[str] = None,
    seed: int = 1,
    compress: bool = True,
    nodsp: bool = False,
    timeout: float = 3600,
) -> ImplementResult:
    """Synthesize, fit-check, place, route and pack. ``available`` (lut/ff/bram/dsp) defaults to the
    part's data-sheet counts; a design that needs more raises DoesNotFitError before P&R. ``nodsp``
    keeps products out of the ECP5 multipliers; when yosys infers more multipliers than the part has,
    the design is re-synthesized that way (hwkit.implement.policy)."""
    from hwkit.tools import nextpnr, pack, yosys

    if family not in BITSTREAM_SUFFIX:
        raise ConfigError(f"no open bitstream flow for family '{family}': choose ecp5 or ice40")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    part = part_resources(family, device) if available is None else {"name": part_name or device, **available}

    def synth_run(flag: bool):
        return yosys.synthesize(sources, top, out_dir, family, data_files=data_files, timeout=timeout,
                                extra_synth_args="-nodsp" if flag else "")

    syn, notes = synth_run(nodsp), []
    if nodsp_retry(family, int(syn.as_dict().get("dsp", 0)), int(part.get("dsp", 0)), nodsp):
        notes.append(f"yosys inferred {syn.as_dict()['dsp']} multipliers > {part['dsp']}: re-synthesized with -nodsp")
        syn = synth_run(True)
    synth = syn.as_dict()
    fit = check_fit(synth, family, part, part_name or part["name"])
    pnr = nextpnr.place_and_route(syn.netlist, out_dir, family, device=device, package=package,
                                  constraints=constraints, freq_mhz=freq_mhz, seed=seed, speed=speed,
                                  timeout=timeout)
    bit = pack.pack(pnr.output, out_dir / f"{top}{BITSTREAM_SUFFIX[family]}", family, compress=compress)
    result = ImplementResult(
        family=family, device=str(device), package=package, top=top, bitstream=bit.bitstream,
        bitstream_bytes=bit.bytes, bitstream_sha256=_sha256(bit.bitstream), fmax_mhz=pnr.fmax_min,
        fmax_by_clock=dict(sorted(pnr.fmax_mhz.items())), target_mhz=float(freq_mhz), timing_met=pnr.timing_met,
        synth=synth, fit=fit, utilization=dict(sorted(pnr.utilization.items())),
        seconds={"synth": round(syn.seconds, 2), "pnr": round(pnr.seconds, 2), "pack": round(bit.seconds, 2)},
        versions=_versions(family), logs={"synth": syn.log, "pnr": pnr.log, "pack": bit.log}, notes=notes,
    )
    (out_dir / "implement.json").write_text(json.dumps(result.as_dict(), indent=2, sort_keys=True) + "\n")
    return result


def implement_board(
    core_sources: Sequence[Path],
    core_json: Union[Path, dict, CoreShape],
    board,
    out_dir: Path,
    *,
    data_files: Sequence[Path] = (),
    clock_mhz: Optional[float] = None,
    baud: int = 115200,
    seed: int = 1,
    retime: bool = True,
    timeout: float = 3600,
) -> ImplementResult:
    """``hwkit_core`` (its sources + core.json) inside the UART board top, implemented for ``board``
    (a name or hwkit.boards.Board). On ECP5 a PLL (ecppll) makes ``clock_mhz`` (default: the board's
    clock) from the oscillator; iCE40 boards run at the oscillator frequency. If routing misses the
    PLL clock and ``retime``, the design is rebuilt once with the PLL at most 90 % of the achieved Fmax
    (``seconds`` then add up both runs, ``notes`` say so)."""
    from hwkit.boards import load_board
    from hwkit.tools import pack

    b = load_board(board) if isinstance(board, str) else board
    if not b.is_open or b.pins is None or b.constraints is None:
        raise ConfigError(f"board '{b.name}' has no open-toolchain flow (toolchain: {b.toolchain})")
    shape = core_json if isinstance(core_json, CoreShape) else CoreShape.from_json(core_json)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    osc = float(b.pins.clock_mhz)
    target = float(clock_mhz or b.clock_mhz)
    use_pll = abs(target - osc) > 1e-6 and b.family == "ecp5"
    notes = [] if use_pll or abs(target - osc) <= 1e-6 else [
        f"no PLL on {b.family}: the design runs at the {osc:g} MHz oscillator, not {target:g} MHz"]
    res = b.resources
    available = {"lut": res.lut, "ff": res.ff, "bram": res.bram_blocks, "dsp": res.dsp}

    def run(request_mhz: float) -> ImplementResult:
        extra, freq = [], osc
        if use_pll:
            pll_v, freq = pack.ecp5_pll(out_dir, osc, request_mhz)
            extra.append(pll_v)
            notes.append(f"PLL {osc:g} MHz -> {freq:g} MHz (requested {request_mhz:g})")
        wrapper = write_wrapper(out_dir / f"{TOP}.v", shape, clk_hz=int(round(freq * 1e6)), baud=baud,
                                btn_active_low=b.pins.reset_active_low, led_active_low=led_active_low(b.name),
                                pll=use_pll)
        return implement([wrapper, *extra, *wrapper_sources(), *core_sources], TOP, out_dir, family=b.family,
                         device=b.pnr["device"], package=b.pnr["package"], constraints=b.constraints,
                         freq_mhz=freq, data_files=data_files, available=available,
                         part_name=f"{b.device} ({b.name})", speed=b.pnr.get("speed"), seed=seed, timeout=timeout)

    result = run(target)
    limit = retime_limit_mhz(result.timing_met, result.fmax_mhz, use_pll and retime)
    if timing_missed(result.timing_met, result.fmax_mhz):
        if limit is not None:
            # the baud divider depends on the clock, so a slower PLL means a rebuild, not a re-route
            slower = pack.ecp5_pll_at_most(out_dir, osc, limit)
            notes.append(f"timing missed at {result.target_mhz:g} MHz (Fmax {result.fmax_mhz:.1f}): "
                         f"rebuilt at {slower:g} MHz")
            first = result
            result = run(slower)
            result.seconds = {k: round(v + first.seconds.get(k, 0), 2) for k, v in result.seconds.items()}
        else:
            notes.append(f"timing missed: Fmax {result.fmax_mhz:.1f} MHz below the {result.target_mhz:g} MHz clock")
    result.notes = notes + result.notes
    (out_dir / "implement.json").write_text(json.dumps(result.as_dict(), indent=2, sort_keys=True) + "\n")
    return result
