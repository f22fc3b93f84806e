"""Beats on hwkit streams: packing integer elements into bus words, and running a compiled stream
test bench (hls/rtl/sim/tb_stream.cpp) over files.

Convention (every block and the generated core): a beat carries E elements of B bits, element e at
bits [e*B, (e+1)*B); signed values in two's complement, bipolar {-1,+1} as 1 bit (0 means -1).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwkit.errors import BuildFailedError
from hwkit.resources import rtl_dir
from hwkit.tools.base import run_tool

RTL_DIR = rtl_dir()
TESTBENCH = RTL_DIR / "sim" / "tb_stream.cpp"


def encode(values: np.ndarray, bits: int, bipolar: bool = False) -> np.ndarray:
    v = np.asarray(values, dtype=np.int64)
    if bipolar:
        v = (v > 0).astype(np.int64)
    return v & ((1 << bits) - 1)


def decode(raw: np.ndarray, bits: int, signed: bool, bipolar: bool = False) -> np.ndarray:
    raw = np.asarray(raw, dtype=np.int64)
    if bipolar:
        return np.where(raw & 1, 1, -1).astype(np.int64)
    if signed:
        return np.where(raw >= (1 << (bits - 1)), raw - (1 << bits), raw)
    return raw


def pack_words(elems: np.ndarray, bits: int) -> np.ndarray:
    """(n_beats, E) raw unsigned element codes -> (n_beats, n_words) uint32, LS word first."""
    elems = np.asarray(elems, dtype=np.uint64)
    n, e = elems.shape
    nw = max(1, -(-e * bits // 32))
    bitmat = ((elems[:, :, None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1)).reshape(n, e * bits)
    bitmat = np.concatenate([bitmat, np.zeros((n, nw * 32 - e * bits), dtype=np.uint64)], axis=1)
    words = (bitmat.reshape(n, nw, 32) << np.arange(32, dtype=np.uint64)).sum(axis=2)
    return words.astype(np.uint32)


def unpack_words(words: np.ndarray, e: int, bits: int) -> np.ndarray:
    """(n_beats, n_words) uint32 -> (n_beats, E) raw unsigned element codes."""
    words = np.asarray(words, dtype=np.uint64)
    n = words.shape[0]
    bitmat = ((words[:, :, None] >> np.arange(32, dtype=np.uint64)) & np.uint64(1)).reshape(n, -1)[:, : e * bits]
    codes = (bitmat.reshape(n, e, bits) << np.arange(bits, dtype=np.uint64)).sum(axis=2)
    return codes.astype(np.int64)


def mem_text(codes: np.ndarray, bits_per_elem: int) -> str:
    """$readmemh text: one word per row of ``codes`` (depth, E), element e at bits [e*B, (e+1)*B),
    written with exactly as many hex digits as the word needs (deterministic bytes)."""
    codes = np.asarray(codes, dtype=np.int64)
    words = pack_words(codes, bits_per_elem)
    digits = max(1, -(-codes.shape[1] * bits_per_elem // 4))
    lines = []
    for row in words.tolist():
        value = 0
        for i, w in enumerate(row):
            value |= int(w) << (32 * i)
        lines.append(f"{value:0{digits}x}")
    return "\n".join(lines) + "\n"


@dataclass
class StreamRun:
    out_codes: np.ndarray     # (n_out_beats, E_out) raw codes
    out_cycles: np.ndarray    # cycle of each output beat
    in_cycles: np.ndarray     # cycle of each accepted input beat
    seconds: float
    # samples at which a further simulator process started (parallel cosim): its cycles continue the
    # previous process's, but the distance to the sample before is a pipeline refill, not an II
    starts: tuple = ()


def run_stream(exe: Path, in_codes: np.ndarray, in_bits: int, n_out_beats: int, out_e: int, out_bits: int,
               workdir: Path, *, stall_in: int = 0, stall_out: int = 0, seed: int = 0,
               max_cycles: int = 2_000_000_000, timeout: float = 3600, tag: str = "") -> StreamRun:
    """Feed ``in_codes`` (n_beats, E_in) through the compiled bench ``exe``; cwd = ``workdir`` so
    the design's $readmemh files are found by relative name. ``tag`` names this run's files
    (``in<tag>.hex``, ``out<tag>.txt``, ...) so that several runs can share ``workdir`` at once."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    words = pack_words(in_codes, in_bits)
    lines = [" ".join(f"{w:08x}" for w in row) for row in words.tolist()]
    f_in, f_out, f_cyc, log = (f"in{tag}.hex", f"out{tag}.txt", f"in_cycles{tag}.txt", workdir / f"sim{tag}.log")
    (workdir / f_in).write_text("\n".join(lines) + "\n")
    res = run_tool([exe, f_in, f_out, f_cyc, n_out_beats, stall_in, stall_out, seed, max_cycles],
                   cwd=workdir, log=log, timeout=timeout, check=False)
    if res.returncode != 0:
        raise BuildFailedError(f"verilator simulation failed (log: {log}): "
                               f"{res.stdout.strip().splitlines()[-1] if res.stdout.strip() else res.returncode}")
    text = (workdir / f_out).read_text().split()
    nw = max(1, -(-out_e * out_bits // 32))
    arr = np.array([int(t, 16) for t in text], dtype=np.uint64).reshape(-1, nw + 1) if text else \
        np.zeros((0, nw + 1), dtype=np.uint64)
    # the cycle column was written in decimal: re-parse it
    cycles = np.array(text[:: nw + 1], dtype=np.int64)
    out_codes = unpack_words(arr[:, 1:], out_e, out_bits)
    in_cycles = np.loadtxt(workdir / f_cyc, dtype=np.int64, ndmin=1)
    return StreamRun(out_codes, cycles, in_cycles, res.seconds)
