"""The rtl backend's implementation steps on Gowin boards (Tang Nano 9K/20K): yosys ``synth_gowin``,
nextpnr-himbaechel, apycula's ``gowin_pack`` (:mod:`hwkit.tools.gowin`), with the same stage records
as the ECP5/iCE40 steps. The board runs at its oscillator (no PLL is generated for Gowin parts), so
there is no timing re-closure: a missed clock is reported, not hidden."""
from __future__ import annotations

import json
import shutil

from hwkit.errors import BuildFailedError, DoesNotFitError
from hwkit.stages import common as c
from hwkit.stages.records import BitstreamRecord, Clock, RouteRecord, SynthRecord

FAMILIES = ("gw1n", "gw2a")


def is_gowin(board) -> bool:
    return board.family in FAMILIES


def synthesize(ctx) -> dict:
    import yaml

    from hwkit.implement.parts import check_fit
    from hwkit.implement.wrapper import TOP, CoreShape, wrapper_sources, write_wrapper
    from hwkit.tools import gowin, yosys

    board = c.board(ctx)
    ctx.record_tool("yosys", yosys.version())
    gen = ctx.stage_dir("generate")
    desc = json.loads((gen / "core.json").read_text())
    osc = float(board.pins.clock_mhz)
    requested = c.current_clock(ctx)
    notes = [] if abs(requested.requested_mhz - osc) < 1e-6 else [
        f"no PLL on {board.family}: runs at the {osc:g} MHz oscillator, not {requested.requested_mhz:g} MHz"]
    raw = yaml.safe_load(board.path.read_text()) if board.path else {}
    wrapper = write_wrapper(ctx.workdir / f"{TOP}.v", CoreShape.from_json(desc), clk_hz=int(round(osc * 1e6)),
                            btn_active_low=board.pins.reset_active_low, led_active_low=bool(raw.get("led_active_low")))
    syn = gowin.synthesize([wrapper, *wrapper_sources(), *[gen / f for f in desc["files"]["verilog"]]], TOP,
                           ctx.workdir, board.family, data_files=[gen / f for f in desc["files"]["mem"]])
    total = {k: syn.get(k) for k in ("lut", "ff", "bram", "dsp")}
    fit = check_fit(syn, board.family, {"lut": board.resources.lut, "ff": board.resources.ff,
                                        "bram": board.resources.bram_blocks, "dsp": board.resources.dsp},
                    f"{board.device} ({board.name})")
    clock = Clock(requested.requested_mhz, osc, "oscillator", False)
    return SynthRecord(
        tool=f"yosys synth_gowin -family {gowin.FAMILIES[board.family]}", top=TOP, netlist=syn["netlist"],
        total=total, lutram=syn.get("lutram"), layers={}, fit=fit, nodsp=False, clock=clock.to_dict(), notes=notes,
        summary=f"LUT {total['lut']} FF {total['ff']} BRAM {total['bram']} DSP {total['dsp']}"
                + (f"; {'; '.join(notes)}" if notes else "")).to_dict()


def place_route(ctx) -> dict:
    from hwkit.tools import gowin

    board, syn = c.board(ctx), SynthRecord.from_dict(ctx.results["synthesize"])
    shutil.copyfile(ctx.artefact("synthesize", syn.netlist), ctx.workdir / syn.netlist)
    clock = Clock.from_dict(syn.clock)
    try:
        pnr = gowin.place_and_route(ctx.workdir, syn.netlist, device=board.pnr["device"],
                                    family=board.pnr["family"], cst=board.constraints, freq_mhz=clock.achieved_mhz)
    except BuildFailedError as err:
        log = ctx.workdir / "nextpnr_gowin.log"
        text = log.read_text(errors="replace") if log.is_file() else ""
        if "Unable to find legal placement" not in text:
            raise
        # the analytic estimate is optimistic on Gowin parts (LUT-RAM FIFOs): say what to change
        raise DoesNotFitError(f"the design does not place on the {board.device} ({board.name}): "
                              f"{syn.total['lut']} LUT4 after synthesis; fold it further with --target-fps "
                              f"(the default model places at II 256: --target-fps 100000); log: {log}") from err
    (ctx.workdir / syn.netlist).unlink()
    fmax = pnr["fmax_mhz"]
    met = bool(fmax and fmax >= clock.achieved_mhz)
    notes = [] if met else [f"timing missed: Fmax {fmax} MHz below the {clock.achieved_mhz:g} MHz oscillator"]
    return RouteRecord(
        fmax_mhz=fmax, fmax_by_clock=dict(sorted(pnr["fmax"].items())), timing_met=met,
        utilization=pnr["utilization"], routed=pnr["routed"], warnings=[], clock=clock.to_dict(), notes=notes,
        summary=(f"Fmax {fmax:.1f} MHz at a {clock.achieved_mhz:g} MHz clock" if fmax else "no Fmax")
                + (f"; {notes[0]}" if notes else "")).to_dict()


def bitstream(ctx, stage: str) -> dict:
    from hwkit.builddir import hash_file
    from hwkit.tools import gowin

    board = c.board(ctx)
    routed = ctx.results[stage]["routed"]
    shutil.copyfile(ctx.artefact(stage, routed), ctx.workdir / routed)
    res = gowin.pack(ctx.workdir, routed, f"{board.name}.fs", family=board.pnr["family"])
    (ctx.workdir / routed).unlink()
    path = ctx.workdir / res["bitstream"]
    return BitstreamRecord(bitstream=path.name, bytes=res["bytes"], sha256=hash_file(path),
                           summary=f"{path.name} ({res['bytes']:,} bytes)").to_dict()
