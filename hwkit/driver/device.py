"""Host side of the UART link to a board running hwkit's board wrapper (real or simulated)."""
from __future__ import annotations

import time
from typing import Optional

import numpy as np

from hwkit.driver import protocol as P
from hwkit.errors import BuildFailedError, ConfigError, ToolMissingError
from hwkit.implement.wrapper import DEFAULT_BAUD

PYSERIAL = "pip install pyserial==3.5"


class DeviceError(BuildFailedError):
    """The board did not answer as the protocol says (names what was expected)."""


class Device:
    """An hwkit board on a serial port. ``Device('/dev/ttyUSB0')`` or any pyserial URL.

    >>> with Device(port) as dev:
    ...     y = dev.infer(x_int)            # one sample -> its output elements
    ...     Y = dev.infer_many(X_int)       # many samples, pipelined within the board's window
    """

    def __init__(self, port: str, baud: int = DEFAULT_BAUD, timeout: float = 2.0, resync_s: float = 0.05,
                 core=None):
        """``core``: the core.json (path or dict) of the loaded accelerator. With it, the board's reply
        to the info request is checked against it, samples may keep their model shape and 1-bit
        bipolar elements are mapped (+1 -> 1, -1 -> 0) as the core expects."""
        try:
            import serial
        except ImportError:
            raise ToolMissingError(f"the host driver needs pyserial: {PYSERIAL}") from None
        self.timeout = timeout
        self.resync_s = resync_s
        try:
            self._ser = serial.serial_for_url(port, baudrate=baud, timeout=timeout, write_timeout=timeout)
        except (serial.SerialException, ValueError) as err:
            raise ConfigError(f"cannot open serial port {port}: {err}") from None
        self.core = None
        try:
            self._ser.reset_input_buffer()
            self.info = self.read_info()
            if core is not None:
                self._attach(core)
        except BaseException:
            self._ser.close()
            raise

    def _attach(self, core) -> None:
        import json
        from pathlib import Path

        desc = core if isinstance(core, dict) else json.loads(Path(core).read_text())
        i, o, info = desc["in"], desc["out"], self.info
        want = (i["bits"], bool(i["signed"]), int(np.prod(i["shape"])), o["bits"], bool(o["signed"]),
                int(np.prod(o["shape"])))
        have = (info.in_bits, info.in_signed, info.in_elems, info.out_bits, info.out_signed, info.out_elems)
        if want != have:
            raise DeviceError(f"the board runs a different core: it reports (in bits, signed, elems, out bits, "
                              f"signed, elems) = {have}, core.json says {want}")
        self.core = desc

    # -- context manager ------------------------------------------------------------------------
    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._ser.close()

    # -- protocol ---------------------------------------------------------------------------------
    def _read_exact(self, n: int, what: str) -> bytes:
        data = self._ser.read(n)
        if len(data) != n:
            raise DeviceError(f"board sent {len(data)} of {n} bytes of {what} within {self.timeout} s "
                              f"(wrong port or baud rate, or no hwkit bitstream loaded?)")
        return data

    def resync(self) -> None:
        """Recover from a broken exchange: stay silent long enough that the board drops any partial
        frame, then discard whatever it had queued for us."""
        time.sleep(self.resync_s)
        self._ser.reset_input_buffer()

    def read_info(self) -> P.DeviceInfo:
        """Ask the board for its shapes; only call with no samples in flight."""
        for attempt in (0, 1):
            self._ser.write(bytes([P.CMD_INFO]))
            data = self._ser.read(P.INFO_LEN)
            try:
                return P.parse_info(data)
            except ValueError as err:
                if attempt:
                    raise DeviceError(f"{err} (check the port, the baud rate and the loaded bitstream)") from None
                self.resync()
        raise AssertionError("unreachable")

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if self.core is not None and tuple(x.shape) == tuple(self.core["in"]["shape"]):
            x = x[None]
        elif x.ndim == 1:
            x = x[None]
        x = x.reshape(x.shape[0], -1)
        if self.core is not None and self.core["in"].get("bipolar"):
            x = (x > 0).astype(np.int64)
        if x.shape[1] != self.info.in_elems:
            raise ConfigError(f"board expects {self.info.in_elems} input elements per sample, got {x.shape[1]}")
        return x

    def infer(self, x) -> np.ndarray:
        """Output elements (int64) for one integer sample."""
        return self.infer_many(np.asarray(x)[None] if self.core is not None else self._check(x)[:1])[0]

    def infer_many(self, xs, window: Optional[int] = None) -> np.ndarray:
        """Outputs (N, out_elems) for N integer samples, keeping up to ``window`` samples in flight
        (default: what the board reports it can buffer) so the line never idles."""
        xs = self._check(xs)
        info = self.info
        w = max(1, min(window or info.window, info.window))
        frames = [P.encode_sample(x, info.in_bits, info.in_signed) for x in xs]
        out = np.zeros((len(frames), info.out_elems), dtype=np.int64)
        sent = 0
        for i in range(len(frames)):
            while sent < len(frames) and sent < i + w:
                self._ser.write(frames[sent])
                sent += 1
            data = self._read_exact(info.out_bytes, f"the output of sample {i}")
            out[i] = P.decode_output(data, info.out_bits, info.out_signed, info.out_elems)
        if self.core is not None:
            o = self.core["out"]
            if o.get("bipolar"):
                out = np.where(out & 1, 1, -1).astype(np.int64)
            out = out.reshape((len(frames),) + tuple(o["shape"]))
        return out
