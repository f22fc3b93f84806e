"""The few exception types users see. The CLI turns each into a one-line message and an exit code."""
from __future__ import annotations


class HwkitError(Exception):
    """Base class: ``str(err)`` is a complete, actionable one-line message."""

    exit_code = 1


class UnsupportedModelError(HwkitError):
    """The model contains something hwkit cannot lower or represent exactly (names node and op)."""

    exit_code = 3


class ToolMissingError(HwkitError):
    """An external program is not installed (names the pip/apt package that provides it)."""

    exit_code = 4


class DoesNotFitError(HwkitError):
    """The design needs more of some resource than the board has (needed vs available)."""

    exit_code = 5


class MismatchError(HwkitError):
    """A hardware form disagrees with the golden model (names layer, element, input index)."""

    exit_code = 6


class BuildFailedError(HwkitError):
    """An external tool or a build stage failed (names the stage and the log file)."""

    exit_code = 7


class ConfigError(HwkitError):
    """Bad user input: unknown model/board/dataset, bad bit width, malformed config or checkpoint."""

    exit_code = 2


class GraphError(UnsupportedModelError):
    """An HwGraph breaks an invariant of the IR (order, producers, types, folding, K/K^T); names the
    layer or stream and the rule."""
