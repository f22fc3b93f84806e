"""hls4ml backend: QONNX -> exact-precision HLS project -> C emulation compared with the golden model."""
from hwkit.backends.hls4ml.project import (  # noqa: F401
    Hls4mlProject, compile_project, generate_hls4ml_project, reuse_from_folding,
)
from hwkit.backends.hls4ml.cosim import cosim_hls4ml  # noqa: F401,E402
from hwkit.backends.hls4ml.synth import synthesize  # noqa: F401,E402
