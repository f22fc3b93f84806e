"""The throughput of the link in front of the core, beside the core's own: the one place that knows how
many bytes a sample costs on each top's wire (hls/rtl/UART_PROTOCOL.md, hls/rtl/hk_axis_top.v)."""
from __future__ import annotations

from typing import Optional

from hwkit.errors import ConfigError
from hwkit.implement.wrapper import CoreShape

UART_BITS_PER_BYTE = 10      # start + 8 data + stop (8N1)
UART_MIN_CLOCKS_PER_BIT = 4  # as wrapper_verilog requires
TOPS = ("uart", "axis", "core")


def _bytes(bits: int) -> int:
    return (bits + 7) // 8


def link_bytes(shape: CoreShape, top: str) -> tuple[int, int]:
    """Bytes per sample (in, out) on ``top``'s link, exactly as the top frames a sample."""
    if top == "uart":
        # host -> board: command byte 0x01 + IN_ELEMS x ceil(IN_BITS/8); board -> host: OUT_ELEMS x ceil(OUT_BITS/8)
        return 1 + shape.in_elems * _bytes(shape.in_bits), shape.out_elems * _bytes(shape.out_bits)
    if top in ("axis", "core"):
        # one transfer per core beat, TDATA = the beat's elements packed densely, padded to whole bytes
        return (shape.in_beats * _bytes(shape.in_epb * shape.in_bits),
                shape.out_beats * _bytes(shape.out_epb * shape.out_bits))
    raise ConfigError(f"unknown top {top!r}: expected one of {', '.join(TOPS)}")


def _uart_row(shape: CoreShape, baud: Optional[int], clock_mhz: Optional[float]) -> Optional[dict]:
    if not baud:
        return None
    bytes_in, bytes_out = link_bytes(shape, "uart")
    # full duplex: with WINDOW >= 2 the two directions overlap, the longer one sets the pace
    fps = baud / UART_BITS_PER_BYTE / max(bytes_in, bytes_out)
    row = {"top": "uart", "baud": int(baud), "bytes_in": bytes_in, "bytes_out": bytes_out, "fps": round(fps, 6)}
    if clock_mhz and clock_mhz * 1e6 < UART_MIN_CLOCKS_PER_BIT * baud:
        row |= {"fps": None, "reason": f"{clock_mhz:g} MHz is too slow for {baud} baud "
                                       f"(the UART top needs >= {UART_MIN_CLOCKS_PER_BIT} clocks per bit)"}
    return row


def link_throughput(core_json: dict, top: str = "uart", baud: Optional[int] = None,
                    clock_mhz: Optional[float] = None, *, max_baud: Optional[int] = None,
                    core_fps: Optional[float] = None) -> dict:
    """The ``throughput`` section of report.json.

    ``core_json``: generate's core.json (stream shape); ``top``: 'uart' (board top at ``baud``, and at the
    board's ``max_baud`` when given), 'axis' or 'core' (one beat per clock at ``clock_mhz``);
    ``core_fps``: the core's samples/s (clock / II). ``effective_fps`` = min(core, link) and ``bound``
    names the smaller."""
    shape = CoreShape.from_json(core_json)
    if top == "uart":
        link, link_max = _uart_row(shape, baud, clock_mhz), _uart_row(shape, max_baud, clock_mhz)
    else:
        bytes_in, bytes_out = link_bytes(shape, top)
        fps = clock_mhz * 1e6 / max(shape.in_beats, shape.out_beats) if clock_mhz else None
        link = {"top": top, "baud": None, "bytes_in": bytes_in, "bytes_out": bytes_out,
                "fps": None if fps is None else round(fps, 6)}
        link_max = None
    link_fps = link["fps"] if link else None
    if core_fps is None or link_fps is None:
        effective, bound = (core_fps if link_fps is None else link_fps), None
    else:
        effective, bound = min(core_fps, link_fps), ("core" if core_fps <= link_fps else "link")
    return {"core_fps": core_fps, "link": link, "link_max": link_max,
            "effective_fps": None if effective is None else round(effective, 6), "bound": bound}
