"""Every external program hwkit runs goes through here (argument lists, timeouts, logs, versions)."""
from hwkit.tools.base import ToolResult, find_tool, run_tool, tool_version

__all__ = ["ToolResult", "find_tool", "run_tool", "tool_version"]
