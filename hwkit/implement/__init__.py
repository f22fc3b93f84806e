"""Open implementation flow (yosys + nextpnr + ecppack/icepack via YoWASP) and the UART board wrapper."""
from hwkit.implement.flow import ImplementResult, implement, implement_board
from hwkit.implement.parts import PARTS, check_fit, part_resources
from hwkit.implement.policy import TIMING_MARGIN, nodsp_from_estimate, nodsp_retry, retime_limit_mhz, timing_missed
from hwkit.implement.wrapper import CoreShape, write_wrapper

__all__ = ["implement", "implement_board", "ImplementResult", "CoreShape", "write_wrapper", "PARTS",
           "check_fit", "part_resources", "TIMING_MARGIN", "nodsp_from_estimate", "nodsp_retry", "retime_limit_mhz",
           "timing_missed"]
