"""The open implementation flow: yosys synth_<family> -> fit check -> nextpnr -> ecppack/icepack.

The steps are functions the rtl backend's build stages call one by one (:mod:`hwkit.backends.rtl.steps`):
``board_top`` (UART top + PLL), ``synthesize_design`` (yosys, -nodsp retry), ``check_fit``, nextpnr,
``retime_clock`` (a lower PLL clock after a missed target) and the packer. ``implement`` chains them for
Verilog sources and a named part; ``implement_board`` wraps a generated ``hwkit_core`` in the board top.
Everything runs inside one build directory with relative paths (YoWASP), fixed seeds and no
timestamps, so the same inputs give a byte-identical bitstream.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Optional, Sequence, Union

from hwkit.atomic import write_json
from hwkit.errors import ConfigError
from hwkit.implement.bram_outreg import absorb_in_file
from hwkit.implement.parts import check_fit, part_resources
from hwkit.implement.policy import nodsp_retry, retime_limit_mhz, timing_missed
from hwkit.implement.wrapper import DEFAULT_BAUD, TOP, CoreShape, led_active_low, wrapper_sources, write_wrapper

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


def board_top(shape: CoreShape, board, workdir: Path, request_mhz: float, *, baud: int = DEFAULT_BAUD):
    """The UART board top (and on ECP5 a PLL making ``request_mhz``) written into ``workdir``.

    Returns (its sources, the Clock record, notes). iCE40 boards run at their oscillator."""
    from hwkit.stages.records import Clock
    from hwkit.tools import pack

    osc = float(board.pins.clock_mhz)
    use_pll = abs(request_mhz - osc) > 1e-6 and board.family == "ecp5"
    extra, notes, freq = [], [], osc
    if use_pll:
        pll_v, freq = pack.ecp5_pll(workdir, osc, request_mhz)
        extra.append(pll_v)
        notes.append(f"PLL {osc:g} MHz -> {freq:g} MHz (requested {request_mhz:g})")
    elif abs(request_mhz - osc) > 1e-6:
        notes.append(f"no PLL on {board.family}: the design runs at the {osc:g} MHz oscillator, "
                     f"not {request_mhz:g} MHz")
    wrapper = write_wrapper(Path(workdir) / f"{TOP}.v", shape, clk_hz=int(round(freq * 1e6)), baud=baud,
                            btn_active_low=board.pins.reset_active_low, led_active_low=led_active_low(board.name),
                            pll=use_pll)
    clock = Clock(float(request_mhz), float(freq), "PLL" if use_pll else "oscillator", use_pll)
    return [wrapper, *extra, *wrapper_sources()], clock, notes


def synthesize_design(sources, top: str, workdir: Path, family: str, *, data_files=(), nodsp: bool = False,
                      dsp_available: int = 0, timeout: float = 3600):
    """yosys ``synth_<family>``; re-run with ``-nodsp`` when it inferred more multipliers than the part
    has (hwkit.implement.policy). On ECP5 the registers after block-RAM reads then go into the blocks
    (hwkit.implement.bram_outreg; the counts stay yosys', as the estimate models them; nextpnr's
    utilization shows the fabric's). Returns (SynthResult, nodsp used, notes)."""
    from hwkit.tools import yosys

    def run(flag: bool):
        return yosys.synthesize(sources, top, workdir, family, data_files=data_files, timeout=timeout,
                                extra_synth_args="-nodsp" if flag else "")

    syn, notes = run(nodsp), []
    if nodsp_retry(family, int(syn.as_dict().get("dsp", 0)), int(dsp_available), nodsp):
        notes.append(f"yosys inferred {syn.as_dict()['dsp']} multipliers > {dsp_available}: re-synthesized with -nodsp")
        nodsp = True
        syn = run(True)
    if family == "ecp5" and syn.netlist is not None:
        moved = absorb_in_file(syn.netlist, top)
        if moved:
            notes.append(f"{moved} of yosys' flip-flops moved into block-RAM output registers (OUTREG)")
    return syn, nodsp, notes


def retime_clock(workdir: Path, board, pnr, clock) -> Optional[float]:
    """The PLL clock to rebuild at after routing missed ``clock`` (None: met, or no PLL to lower).

    The baud divider depends on the clock, so a slower PLL means a rebuild, not a re-route."""
    from hwkit.tools import pack

    limit = retime_limit_mhz(pnr.timing_met, pnr.fmax_min, bool(clock.pll))
    if limit is None:
        return None
    return pack.ecp5_pll_at_most(workdir, float(board.pins.clock_mhz), limit)


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
    from hwkit.tools import nextpnr, pack

    if family not in BITSTREAM_SUFFIX:
        raise ConfigError(f"no open bitstream flow for family '{family}': choose ecp5 or ice40")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    part = part_resources(family, device) if available is None else {"name": part_name or device, **available}

    syn, _, notes = synthesize_design(sources, top, out_dir, family, data_files=data_files, nodsp=nodsp,
                                      dsp_available=int(part.get("dsp", 0)), timeout=timeout)
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
    write_json(out_dir / "implement.json", result.as_dict())
    return result


def implement_board(
    core_sources: Sequence[Path],
    core_json: Union[Path, dict, CoreShape],
    board,
    out_dir: Path,
    *,
    data_files: Sequence[Path] = (),
    clock_mhz: Optional[float] = None,
    baud: int = DEFAULT_BAUD,
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

    b = load_board(board) if isinstance(board, str) else board
    if not b.is_open or b.pins is None or b.constraints is None:
        raise ConfigError(f"board '{b.name}' has no open-toolchain flow (toolchain: {b.toolchain})")
    shape = core_json if isinstance(core_json, CoreShape) else CoreShape.from_json(core_json)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    res = b.resources
    available = {"lut": res.lut, "ff": res.ff, "bram": res.bram_blocks, "dsp": res.dsp}
    notes = []

    def run(request_mhz: float):
        top_sources, clock, top_notes = board_top(shape, b, out_dir, request_mhz, baud=baud)
        notes.extend(top_notes)
        result = implement([*top_sources, *core_sources], TOP, out_dir, family=b.family,
                           device=b.pnr["device"], package=b.pnr["package"], constraints=b.constraints,
                           freq_mhz=clock.achieved_mhz, data_files=data_files, available=available,
                           part_name=f"{b.device} ({b.name})", speed=b.pnr.get("speed"), seed=seed, timeout=timeout)
        return result, clock

    result, clock = run(float(clock_mhz or b.clock_mhz))
    if timing_missed(result.timing_met, result.fmax_mhz):
        routed = SimpleNamespace(timing_met=result.timing_met, fmax_min=result.fmax_mhz)
        slower = retime_clock(out_dir, b, routed, clock) if retime else None
        if slower is not None:
            notes.append(f"timing missed at {result.target_mhz:g} MHz (Fmax {result.fmax_mhz:.1f}): "
                         f"rebuilt at {slower:g} MHz")
            first = result
            result, clock = run(slower)
            result.seconds = {k: round(v + first.seconds.get(k, 0), 2) for k, v in result.seconds.items()}
        else:
            notes.append(f"timing missed: Fmax {result.fmax_mhz:.1f} MHz below the {result.target_mhz:g} MHz clock")
    result.notes = notes + result.notes
    write_json(out_dir / "implement.json", result.as_dict())
    return result
