"""Host driver for hwkit's UART board wrapper: talk to a board (or its Verilator model) over serial.

``Device(port)`` for a real board; ``BoardSim`` builds and runs the Verilator model of the whole
board top behind a pseudo-terminal, so the very same driver code can be tested without hardware.
The byte protocol is in ``hls/rtl/UART_PROTOCOL.md`` and ``hwkit.driver.protocol``.
"""
from hwkit.driver.device import Device, DeviceError
from hwkit.driver.protocol import DeviceInfo, decode_output, encode_sample, parse_info

__all__ = ["Device", "DeviceError", "DeviceInfo", "encode_sample", "decode_output", "parse_info", "BoardSim"]


def __getattr__(name):
    if name == "BoardSim":
        from hwkit.driver.sim import BoardSim

        return BoardSim
    raise AttributeError(name)
