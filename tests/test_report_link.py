"""Honest throughput (issue 13): the core's samples/s beside its link's, with bytes per sample. Fast, no tools."""
import json
import re
from pathlib import Path

import pytest

from hwkit.boards import load_board, parse_board
from hwkit.build import BuildConfig, Flow, Stage, run_flow
from hwkit.errors import ConfigError
from hwkit.report.link import link_throughput

# The default model's core.json stream shape (8x8 digits, 8-bit unsigned pixels in 8 beats of 8; 10 int8 logits
# out in 2 beats of 5), as generate writes it.
CORE = {"ii_cycles": 64, "top": "hwkit_core",
        "in": {"beats_per_sample": 8, "bits": 8, "elems_per_beat": 8, "signed": False, "width": 64},
        "out": {"beats_per_sample": 2, "bits": 8, "elems_per_beat": 5, "signed": True, "width": 40}}


def test_uart_default_model_by_hand():
    # UART_PROTOCOL.md: host sends 0x01 + 64 elements x 1 byte = 65 bytes; board answers 10 x 1 byte.
    # 8N1 = 10 bit times per byte; the directions overlap, so the 65-byte request sets the pace.
    core_fps = 100e6 / 64                                   # 1,562,500
    t = link_throughput(CORE, "uart", 115200, 100.0, max_baud=3_000_000, core_fps=core_fps)
    assert t["link"] == {"top": "uart", "baud": 115200, "bytes_in": 65, "bytes_out": 10,
                         "fps": pytest.approx(115200 / 650)}   # 177.23 samples/s
    assert t["link_max"]["fps"] == pytest.approx(3_000_000 / 650)  # 4,615.4 samples/s
    assert t["link_max"]["bytes_in"] == 65 and t["link_max"]["baud"] == 3_000_000
    assert t["core_fps"] == core_fps
    assert t["effective_fps"] == pytest.approx(177.230769) and t["bound"] == "link"


def test_uart_wide_elements_and_slow_clock():
    wide = {"in": {"beats_per_sample": 4, "bits": 12, "elems_per_beat": 2, "signed": True},
            "out": {"beats_per_sample": 1, "bits": 9, "elems_per_beat": 3, "signed": True}}
    t = link_throughput(wide, "uart", 115200, 12.0, max_baud=3_000_000, core_fps=1e6)
    # 8 elements x 2 bytes + command byte = 17 in; 3 elements x 2 bytes = 6 out
    assert (t["link"]["bytes_in"], t["link"]["bytes_out"]) == (17, 6)
    assert t["link"]["fps"] == pytest.approx(11520 / 17)
    assert t["link_max"]["fps"] == pytest.approx(300_000 / 17)     # 12 MHz / 3 Mbaud = 4 clocks per bit: ok
    slow = link_throughput(wide, "uart", 115200, 8.0, max_baud=3_000_000, core_fps=1e6)
    assert slow["link_max"]["fps"] is None and "clocks per bit" in slow["link_max"]["reason"]


def test_axis_one_beat_per_clock():
    # TDATA byte-aligned: 64-bit beat = 8 bytes x 8 beats in; 40-bit beat = 5 bytes x 2 beats out;
    # one transfer per clock: the 8 input beats set the pace, 100 MHz / 8 = 12.5 M samples/s.
    t = link_throughput(CORE, "axis", None, 100.0, core_fps=100e6 / 64)
    assert t["link"] == {"top": "axis", "baud": None, "bytes_in": 64, "bytes_out": 10, "fps": 12.5e6}
    assert t["link_max"] is None and t["bound"] == "core" and t["effective_fps"] == 1562500.0
    with pytest.raises(ConfigError):
        link_throughput(CORE, "pcie", None, 100.0)


def test_board_uart_max_baud_field():
    assert load_board("ulx3s").uart_max_baud == 3_000_000
    assert load_board("icebreaker").uart_max_baud == 3_000_000
    data = _yaml("ulx3s")
    for bad in (0, -1, "3M", True, 1.5):
        with pytest.raises(ConfigError, match="uart_max_baud"):
            parse_board(data | {"uart_max_baud": bad}, "x.yaml", load_board("ulx3s").path)
    data.pop("uart_max_baud")
    assert parse_board(data, "x.yaml", load_board("ulx3s").path).uart_max_baud is None


def _yaml(name):
    import yaml

    return yaml.safe_load(load_board(name).path.read_text())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from hwkit import stages as s
    from hwkit.stages import publish_report

    def generate(ctx):
        (ctx.workdir / "core.json").write_text(json.dumps(CORE))
        return {"top": "hwkit_core.v", "folding": {}}

    flow = Flow([Stage("export", lambda ctx: {"model": "digits", "source": "hand-made", "sha256": "0" * 64}),
                 Stage("golden_sim", lambda ctx: {"ii_cycles": 64, "latency_cycles": 100, "test_samples": 10}),
                 Stage("generate", generate),
                 Stage("cosim", lambda ctx: {"bit_exact": True, "mismatches": 0, "vectors": 10, "ii_cycles": 64}),
                 Stage("report", s.report)])
    d = tmp_path_factory.mktemp("b")
    ctx = run_flow(flow, BuildConfig(board="ulx3s"), d)
    publish_report(d, ctx)
    return d


def test_report_shows_core_and_link(built):
    r = json.loads((built / "report.json").read_text())
    assert r["summary"]["throughput_fps"] == 1562500.0           # kept for compatibility
    t = r["throughput"]
    assert t["core_fps"] == 1562500.0 and t["bound"] == "link"
    assert t["link"]["fps"] == pytest.approx(115200 / 650) and t["link"]["bytes_in"] == 65
    assert t["link_max"]["fps"] == pytest.approx(3e6 / 650)
    html = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (built / "report.html").read_text()))
    assert "throughput, core 1,562,500 samples/s" in html
    assert "throughput, link (uart, 115,200 baud; 65 B in / 10 B out) 177 samples/s" in html
    assert "uart at 3,000,000 baud 65 10 4,615.4" in html
    text = (Path(__file__).parent.parent / "hwkit" / "report" / "SCHEMA.md").read_text()
    for key in list(t) + list(t["link"]):                         # every key is documented
        assert f"`{key}`" in text, key
