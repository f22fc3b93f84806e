"""The backend-free build stages (export, lower, golden_sim, estimate, generate, cosim, report); the
implementation steps between cosim and report come from the backend (hwkit.backends)."""
from hwkit.stages.hardware import cosim, generate  # noqa: F401
from hwkit.stages.model import estimate, export, golden_sim, lower  # noqa: F401
from hwkit.stages.report import publish_report, report  # noqa: F401
