"""The few exception types users see. The CLI turns each into a one-line message and an exit code.

Exit codes (the same table is in README.md, "Exit codes"):

====  ==========================================================================
 0    success
 2    usage: bad option, unknown model/board/dataset, malformed file or config
 3    unsupported model: something hwkit cannot lower or represent exactly
 4    mismatch: a hardware form or the golden model disagrees bit for bit
 5    does not fit: the design needs more of a resource than the board has
 7    tool failed or missing: an external program exited non-zero, timed out or
      is not installed (the message names the package to install)
 70   internal error: a bug in hwkit (the message asks to report it)
 130  interrupted (Ctrl-C)
====  ==========================================================================

A missing tool shares code 7 with a failing one: both mean "the toolchain could not do its part",
and a script cannot fix either without reading the message, which names the package or the log.
"""
from __future__ import annotations

EXIT_USAGE = 2
EXIT_UNSUPPORTED = 3
EXIT_MISMATCH = 4
EXIT_DOES_NOT_FIT = 5
EXIT_TOOL = 7
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
# no public URL is recorded in pyproject.toml yet: the message names the tracker, the lead may set a URL
REPORT_TO = "the hwkit issue tracker"


class HwkitError(Exception):
    """Base class: ``str(err)`` is a complete, actionable one-line message.

    Raised bare it is a state hwkit did not expect, so it carries the internal-error code."""

    exit_code = EXIT_INTERNAL


class UnsupportedModelError(HwkitError):
    """The model contains something hwkit cannot lower or represent exactly (names node and op)."""

    exit_code = EXIT_UNSUPPORTED


class ToolMissingError(HwkitError):
    """An external program is not installed (names the pip/apt package that provides it)."""

    exit_code = EXIT_TOOL


class DoesNotFitError(HwkitError):
    """The design needs more of some resource than the board has (needed vs available)."""

    exit_code = EXIT_DOES_NOT_FIT


class MismatchError(HwkitError):
    """A hardware form disagrees with the golden model (names layer, element, input index)."""

    exit_code = EXIT_MISMATCH


class BuildFailedError(HwkitError):
    """An external tool or a build stage failed (names the stage and the log file)."""

    exit_code = EXIT_TOOL


class ConfigError(HwkitError):
    """Bad user input: unknown model/board/dataset, bad bit width, malformed config or checkpoint."""

    exit_code = EXIT_USAGE


class GraphError(UnsupportedModelError):
    """An HwGraph breaks an invariant of the IR (order, producers, types, folding, K/K^T); names the
    layer or stream and the rule."""


class HwkitWarning(UserWarning):
    """Something suspicious but not fatal in the user's input; the CLI prints it as one 'warning:' line."""


def in_source_terms(err: HwkitError, names: dict) -> HwkitError:
    """``err`` with every quoted name that cleanup gave (``'Quant_0' (Quant)``) told as the user's file
    has it (``'/features.0/act_quant/export_handler/Quant' (Quant)``); ``names``: cleaned name ->
    [original name, original op type or None] (hwkit.sourcenames). The same error when nothing changes."""
    import re

    if not names:
        return err

    def swap(m):
        entry = names.get(m.group(1))
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            return m.group(0)
        original, op = entry
        return f"'{original}' ({op})" if op else f"'{original}'{m.group(2) or ''}"

    text = str(err)
    named = re.sub(r"'([^'\n]+)'( \([A-Za-z0-9_.]+\))?", swap, text)
    if named == text:
        return err
    try:
        return type(err)(named)
    except Exception:  # noqa: BLE001 - an error type with its own constructor keeps its own words
        return err
