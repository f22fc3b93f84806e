"""The rtl backend's implementation steps as build stages: synthesize -> place_route -> retime ->
bitstream. Each stage calls the step functions of :mod:`hwkit.implement.flow` (the one copy of the
open flow) in its own directory and reads earlier stages' artefacts without writing into them."""
from __future__ import annotations

import json
import shutil

from hwkit.backends.rtl import gowin_steps
from hwkit.stages import common as c
from hwkit.stages.records import BitstreamRecord, Clock, RouteRecord, SynthRecord


def _needs_open(ctx, what: str):
    board = c.board(ctx)
    if not board.is_open:
        return {"status": "not_applicable", "reason": f"no open {what} for {board.family} ({board.part})"}
    return None


def _core_files(ctx):
    gen = ctx.stage_dir("generate")
    desc = json.loads((gen / "core.json").read_text())
    return [gen / f for f in desc["files"]["verilog"]], [gen / f for f in desc["files"]["mem"]]


IP_TOPS = ("axis", "core")   # --top values built out of context: resources and Fmax, no board pins


def top_of_config(config) -> str:
    """The build's top: 'uart' (the board top, a bitstream) unless --top asks for the IP itself."""
    return getattr(config, "top", "") or "uart"


def top_of(ctx) -> str:
    return top_of_config(ctx.config)


def _synth_ip(ctx, requested: Clock, nodsp: bool):
    """The core alone (--top core) or behind its AXI4-Stream wrapper (--top axis), synthesized for
    place & route out of context at the requested clock. Returns (SynthResult, nodsp, Clock, notes)."""
    from hwkit.backends.rtl.axis import TOP as AXIS_TOP, write_axis_top
    from hwkit.implement.flow import synthesize_design

    board = c.board(ctx)
    sources, mems = _core_files(ctx)
    top = "hwkit_core"
    if top_of(ctx) == "axis":
        sources = [*write_axis_top(ctx.stage_dir("generate"), ctx.workdir), *sources]
        top = AXIS_TOP
    syn, nodsp, more = synthesize_design(sources, top, ctx.workdir, board.family, data_files=mems, nodsp=nodsp,
                                         dsp_available=board.resources.dsp, timeout=1800)
    clock = Clock(requested.requested_mhz, requested.requested_mhz, requested.source, False)
    return syn, nodsp, clock, [f"--top {top_of(ctx)}: {top} alone, placed and routed out of context (no board "
                               f"pins, no bitstream; the IP is in the ip_package stage)", *more]


def _available(board) -> dict:
    r = board.resources
    return {"lut": r.lut, "ff": r.ff, "bram": r.bram_blocks, "dsp": r.dsp}


def _synth_in_board(ctx, request_mhz: float, nodsp: bool):
    """The generated core inside the UART board top (PLL at ``request_mhz`` on ECP5), synthesized in
    the running stage's directory. Returns (SynthResult, nodsp, Clock, notes)."""
    from hwkit.implement.flow import board_top, synthesize_design
    from hwkit.implement.wrapper import TOP, CoreShape

    board = c.board(ctx)
    sources, mems = _core_files(ctx)
    shape = CoreShape.from_json(ctx.stage_dir("generate") / "core.json")
    top_sources, clock, notes = board_top(shape, board, ctx.workdir, request_mhz)
    syn, nodsp, more = synthesize_design([*top_sources, *sources], TOP, ctx.workdir, board.family, data_files=mems,
                                         nodsp=nodsp, dsp_available=board.resources.dsp, timeout=1800)
    return syn, nodsp, clock, notes + more


def _layer_stats(ctx, family: str, nodsp: bool, per_inst=None) -> dict:
    """Per HwGraph layer: the synthesized cells of the instances the RTL plan attributes to it (as the
    estimate attributes them), from yosys' hierarchy-keeping statistics of the core (``per_inst`` when
    the synthesis run already kept the hierarchy, else a second run)."""
    from hwkit.estimate.rtl import attribute, plan_for
    from hwkit.tools import yosys

    if per_inst is None:
        sources, mems = _core_files(ctx)
        per_inst = yosys.instance_stats(sources, "hwkit_core", ctx.workdir, family, data_files=mems,
                                        extra_synth_args="-nodsp" if nodsp else "")
    owned, _ = attribute(plan_for(c.graph(ctx), family))
    layers = {}
    for layer, insts in owned.items():
        tot = dict.fromkeys(("lut", "ff", "bram", "dsp", "lutram"), 0)
        for inst in insts:
            for k, v in per_inst.get(inst.name, {}).items():
                tot[k] += v
        layers[layer] = tot
    return layers


def synthesize(ctx) -> dict:
    """Yosys: the core inside the UART board top (open boards) or the bare core (Xilinx: counts only)."""
    if not c.ok(ctx, "generate"):
        return c.unavailable("generated Verilog", "generate stage")
    from hwkit.implement.parts import check_fit
    from hwkit.implement.policy import nodsp_from_estimate
    from hwkit.tools import yosys

    board = c.board(ctx)
    if gowin_steps.is_gowin(board):
        return gowin_steps.synthesize(ctx)
    ctx.record_tool("yosys", yosys.version())
    requested = c.current_clock(ctx)
    if board.is_open:
        nodsp = nodsp_from_estimate(board.family, ctx.results.get("estimate", {}).get("total", {}).get("dsp"))
        if top_of(ctx) in IP_TOPS:
            syn, nodsp, clock, notes = _synth_ip(ctx, requested, nodsp)
        else:
            syn, nodsp, clock, notes = _synth_in_board(ctx, requested.requested_mhz, nodsp)
            clock = Clock(requested.requested_mhz, clock.achieved_mhz, clock.source, clock.pll)
        if nodsp:
            notes.append("multipliers mapped to LUTs (-nodsp)")
        counts = syn.as_dict()
        fit = check_fit(counts, board.family, _available(board), f"{board.device} ({board.name})")
        family = board.family
    else:
        sources, mems = _core_files(ctx)
        syn = yosys.synthesize(sources, "hwkit_core", ctx.workdir, "xilinx", data_files=mems, json_netlist=False,
                               instances=True)   # synth_xilinx keeps the hierarchy: one run for both
        family, counts, fit, nodsp, clock = "xilinx", syn.as_dict(), None, False, requested
        notes = ["Xilinx part: Yosys synth_xilinx cell counts of the core; no open place & route"]
    total = {k: counts.get(k) for k in ("lut", "ff", "bram", "dsp")}
    layers = _layer_stats(ctx, family, nodsp, syn.instances) if c.ok(ctx, "lower") else {}
    return SynthRecord(
        tool=f"yosys {yosys.SYNTH[family]}", top=syn.top, netlist=f"{syn.top}.json" if board.is_open else None,
        total=total, lutram=counts.get("lutram"), layers=layers, fit=fit, nodsp=nodsp, clock=clock.to_dict(),
        notes=notes,
        summary=f"LUT {total['lut']} FF {total['ff']} BRAM {total['bram']} DSP {total['dsp']}"
                + (f"; {'; '.join(notes)}" if notes else "")).to_dict()


def _route(ctx, netlist, clock: Clock, seed: int = 1):
    from hwkit.tools import nextpnr

    board = c.board(ctx)
    return nextpnr.place_and_route(netlist, ctx.workdir, board.family, device=board.pnr["device"],
                                   package=board.pnr["package"], constraints=board.constraints,
                                   freq_mhz=clock.achieved_mhz, seed=ctx.config.seed + seed,
                                   speed=board.pnr.get("speed"), out_of_context=top_of(ctx) in IP_TOPS)


def _route_seeds(ctx, netlist, clock: Clock):
    """Route at ``clock``, again with the next seeds after a near miss (hwkit.implement.policy), and keep
    the best: the kept seed is routed last (nextpnr is deterministic), so its files are the stage's.
    Returns (PnrResult, notes)."""
    from hwkit.implement.policy import best_seed, try_next_seed

    fmax, seed = {}, 1
    while True:
        pnr = _route(ctx, netlist, clock, seed)
        fmax[seed] = pnr.fmax_min
        if not try_next_seed(pnr.timing_met, pnr.fmax_min, clock.achieved_mhz, len(fmax)):
            break
        seed += 1
    if len(fmax) == 1:
        return pnr, []
    keep = best_seed(fmax)
    if keep != seed:
        pnr = _route(ctx, netlist, clock, keep)
    tried = ", ".join(f"{ctx.config.seed + s}: {f:.1f}" for s, f in fmax.items())
    return pnr, [f"placement seeds {tried} MHz; kept {ctx.config.seed + keep}"]


def _route_record(pnr, clock: Clock, notes: list) -> dict:
    return RouteRecord(
        fmax_mhz=pnr.fmax_min, fmax_by_clock=dict(sorted(pnr.fmax_mhz.items())), timing_met=pnr.timing_met,
        utilization=pnr.utilization, routed=pnr.output.name, warnings=list(pnr.warnings)[:20],
        clock=clock.to_dict(), notes=notes,
        summary=(f"Fmax {pnr.fmax_min:.1f} MHz at a {clock.achieved_mhz:g} MHz clock" if pnr.fmax_min else "no Fmax")
                + (f"; {notes[0]}" if notes else "")).to_dict()


def place_route(ctx) -> dict:
    """nextpnr on the synthesized netlist at the synthesized clock; a missed target is the retime
    stage's business."""
    skip = _needs_open(ctx, "place & route")
    if skip:
        return skip
    if not c.ok(ctx, "synthesize"):
        return c.unavailable("a synthesized netlist", "synthesize stage")
    if gowin_steps.is_gowin(c.board(ctx)):
        return gowin_steps.place_route(ctx)
    from hwkit.implement.policy import timing_missed
    from hwkit.tools import nextpnr

    board, syn = c.board(ctx), SynthRecord.from_dict(ctx.results["synthesize"])
    ctx.record_tool(f"nextpnr-{board.family}", nextpnr.version(board.family))
    netlist = ctx.workdir / syn.netlist
    shutil.copyfile(ctx.artefact("synthesize", syn.netlist), netlist)
    clock = Clock.from_dict(syn.clock)
    pnr, seeds = _route_seeds(ctx, netlist, clock)
    netlist.unlink()
    notes = []
    if timing_missed(pnr.timing_met, pnr.fmax_min):
        notes.append(f"timing missed: Fmax {pnr.fmax_min:.1f} MHz below the {clock.achieved_mhz:g} MHz clock")
    return _route_record(pnr, clock, notes + seeds)


def retime(ctx) -> dict:
    """Timing re-closure: when routing missed a PLL clock, the design is synthesized and routed again
    here with the PLL below the achieved Fmax, so the bitstream never runs faster than its Fmax."""
    skip = _needs_open(ctx, "timing re-closure")
    if skip:
        return skip
    if not c.ok(ctx, "place_route"):
        return c.unavailable("a routed design", "place_route stage")
    from types import SimpleNamespace

    from hwkit.implement.flow import retime_clock
    from hwkit.tools import nextpnr, yosys

    routed = RouteRecord.from_dict(ctx.results["place_route"])
    clock = Clock.from_dict(routed.clock)
    if top_of(ctx) in IP_TOPS:
        return {"status": "not_applicable", "reason": f"--top {top_of(ctx)}: routed out of context, no PLL to lower"}
    if gowin_steps.is_gowin(c.board(ctx)):
        return {"status": "not_applicable", "reason": f"no PLL on {c.board(ctx).family}: nothing to re-close"}
    slower = retime_clock(ctx.workdir, c.board(ctx), SimpleNamespace(timing_met=routed.timing_met,
                                                                     fmax_min=routed.fmax_mhz), clock)
    if slower is None:
        why = "timing met" if routed.timing_met else "no PLL clock to lower"
        return {"status": "not_applicable", "reason": f"{why} at {clock.achieved_mhz:g} MHz: nothing to re-close"}
    board = c.board(ctx)
    ctx.record_tool("yosys", yosys.version())
    ctx.record_tool(f"nextpnr-{board.family}", nextpnr.version(board.family))
    syn = SynthRecord.from_dict(ctx.results["synthesize"])
    new, _, got, _ = _synth_in_board(ctx, slower, syn.nodsp)
    got = Clock(clock.requested_mhz, got.achieved_mhz, "timing re-closure", True)
    pnr = _route(ctx, new.netlist, got)
    new.netlist.unlink()
    notes = [f"timing missed at {clock.achieved_mhz:g} MHz (Fmax {routed.fmax_mhz:.1f}): re-synthesized and "
             f"routed at {got.achieved_mhz:g} MHz"]
    return _route_record(pnr, got, notes)


def bitstream(ctx) -> dict:
    skip = _needs_open(ctx, "bitstream generation")
    if skip:
        return skip
    if top_of(ctx) in IP_TOPS:
        return {"status": "not_applicable", "reason": f"--top {top_of(ctx)}: an IP top has no board pins, so no "
                                                      f"bitstream (use --top uart for one)"}
    stage = "retime" if c.ok(ctx, "retime") else "place_route"  # the last routing that ran
    if not c.ok(ctx, stage):
        return c.unavailable("a routed design", f"{stage} stage")
    if gowin_steps.is_gowin(c.board(ctx)):
        return gowin_steps.bitstream(ctx, stage)
    from hwkit.builddir import hash_file
    from hwkit.tools import pack

    board = c.board(ctx)
    ctx.record_tool(f"pack-{board.family}", pack.version(board.family))
    routed_name = ctx.results[stage]["routed"]
    routed = ctx.workdir / routed_name
    shutil.copyfile(ctx.artefact(stage, routed_name), routed)
    suffix = ".bit" if board.family == "ecp5" else ".bin"
    res = pack.pack(routed, ctx.workdir / f"{board.name}{suffix}", board.family)
    routed.unlink()
    return BitstreamRecord(bitstream=res.bitstream.name, bytes=res.bytes, sha256=hash_file(res.bitstream),
                           summary=f"{res.bitstream.name} ({res.bytes:,} bytes)").to_dict()


def ip_package(ctx) -> dict:
    """The verified core as IP an engineer drops into their own system: the AXI4-Stream top (with the
    AXI4-Lite status registers), a FuseSoC core, an IP-XACT component, a Vivado packaging script and a
    file list (``ip/``), and a cocotb + cocotbext-axi bench driving the golden vectors through that top
    (``cocotb/``: ``make -C cocotb`` or ``pytest cocotb/test_runner.py``)."""
    if not c.ok(ctx, "generate") or not c.ok(ctx, "golden_sim"):
        return c.unavailable("the generated core and golden vectors", "earlier stages")
    from hwkit.backends.rtl.cocotb_bench import write_cocotb_bench
    from hwkit.backends.rtl.package import write_packaging

    core = ctx.stage_dir("generate")
    board = c.board(ctx)
    pkg = write_packaging(core, ctx.workdir / "ip", part=board.part)
    bench = write_cocotb_bench(core, ctx.artefact("golden_sim", "golden.npz"), ctx.workdir / "cocotb",
                               n=BENCH_VECTORS)
    vectors = json.loads((bench / "bench.json").read_text())["vectors"]
    return {"ip": "ip", "vlnv": pkg["vlnv"], "fusesoc_core": f"ip/{pkg['core'].name}", "ipxact": "ip/component.xml",
            "cocotb": "cocotb", "cocotb_vectors": vectors,
            "summary": f"IP {pkg['vlnv']} (FuseSoC, IP-XACT, Vivado Tcl); cocotb bench of {vectors} golden vectors"}


BENCH_VECTORS = 2000   # the bench's golden vectors: the test set first, then random grid inputs


def rtl_steps() -> list:
    from hwkit.stages.flow import Stage

    return [
        Stage("synthesize", synthesize, "logic synthesis, per-layer cells", version=4,
              deps=("generate", "estimate", "lower"), key_inputs=lambda config: {"top": top_of_config(config)}),
        Stage("place_route", place_route, "place & route, Fmax", version=4, deps=("synthesize", "generate")),
        Stage("retime", retime, "timing re-closure below Fmax", deps=("place_route", "synthesize", "generate")),
        Stage("bitstream", bitstream, "bitstream", version=2, deps=("place_route", "retime")),
        Stage("ip_package", ip_package, "AXI4-Stream IP: FuseSoC, IP-XACT, Vivado Tcl, cocotb bench",
              deps=("generate", "golden_sim")),
    ]
