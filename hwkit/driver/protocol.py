"""The byte protocol between a host and hwkit's board wrapper (hls/rtl/UART_PROTOCOL.md).

Pure functions, no I/O: the same code frames bytes for a real board and for the Verilator model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwkit.errors import ConfigError

CMD_SAMPLE = 0x01
CMD_INFO = 0x02
INFO_LEN = 11
MAGIC = b"HW"
VERSION = 1
ERROR_BITS = {0: "framing error on the line", 1: "frame aborted by silence", 2: "sample FIFO overflow"}


@dataclass(frozen=True)
class DeviceInfo:
    in_bits: int
    in_signed: bool
    in_elems: int
    out_bits: int
    out_signed: bool
    out_elems: int
    window: int       # samples the host may have in flight
    errors: int = 0   # sticky error bits since the previous info request (see ERROR_BITS)

    @property
    def in_bytes(self) -> int:
        return self.in_elems * _bytes_per(self.in_bits)

    @property
    def out_bytes(self) -> int:
        return self.out_elems * _bytes_per(self.out_bits)

    def error_text(self) -> str:
        return ", ".join(t for b, t in ERROR_BITS.items() if self.errors >> b & 1) or "none"


def _bytes_per(bits: int) -> int:
    return (bits + 7) // 8


def encode_sample(values, bits: int, signed: bool) -> bytes:
    """One sample frame: the command byte, then each element as whole little-endian bytes."""
    v = np.asarray(values).reshape(-1)
    if v.size and not np.issubdtype(v.dtype, np.integer):
        if not np.all(np.equal(np.floor(v), v)):
            raise ConfigError("device inputs must be integers (quantize the sample first)")
        v = v.astype(np.int64)
    v = v.astype(np.int64)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if v.size and (v.min() < lo or v.max() > hi):
        kind = "signed" if signed else "unsigned"
        raise ConfigError(f"input values must fit {bits}-bit {kind} [{lo}, {hi}], got [{v.min()}, {v.max()}]")
    nb = _bytes_per(bits)
    raw = (v & ((1 << (8 * nb)) - 1)).astype("<u8").view(np.uint8).reshape(-1, 8)[:, :nb]
    return bytes([CMD_SAMPLE]) + raw.tobytes()


def decode_output(data: bytes, bits: int, signed: bool, n: int) -> np.ndarray:
    """The ``n`` output elements of one response (little-endian, sign-extended to whole bytes)."""
    nb = _bytes_per(bits)
    if len(data) != n * nb:
        raise ValueError(f"expected {n * nb} bytes, got {len(data)}")
    b = np.frombuffer(data, dtype=np.uint8).reshape(n, nb).astype(np.int64)
    v = np.zeros(n, dtype=np.int64)
    for i in range(nb):
        v |= b[:, i] << (8 * i)
    if signed:
        v = np.where(v >= 1 << (8 * nb - 1), v - (1 << (8 * nb)), v)
    return v


def parse_info(data: bytes) -> DeviceInfo:
    if len(data) != INFO_LEN or data[:2] != MAGIC:
        raise ValueError(f"not an hwkit board: info reply {data.hex() or '(nothing)'}")
    if data[2] != VERSION:
        raise ValueError(f"board speaks protocol version {data[2]}, this driver version {VERSION}")
    return DeviceInfo(
        in_bits=data[3] & 0x7F, in_signed=bool(data[3] & 0x80), in_elems=data[5] | data[6] << 8,
        out_bits=data[4] & 0x7F, out_signed=bool(data[4] & 0x80), out_elems=data[7] | data[8] << 8,
        window=data[9], errors=data[10],
    )
