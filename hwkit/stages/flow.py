"""A flow is a named list of stages (like FINN's step lists): users insert, replace and extend them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from hwkit.errors import ConfigError


@dataclass
class Stage:
    """One step of the flow. ``version`` is part of the stage key: bump it when ``fn`` changes output."""

    name: str
    fn: Callable[["BuildContext"], Optional[dict]]
    description: str = ""
    version: int = 1
    deps: Optional[tuple[str, ...]] = None  # earlier stages whose artefacts this one reads; None: all of them
    # files outside the build directory this stage reads (from the config): their content keys the stage
    input_files: Optional[Callable[["BuildConfig"], list]] = None
    # further settings that key this stage alone (e.g. the test data): config -> JSON-able dict
    key_inputs: Optional[Callable[["BuildConfig"], dict]] = None


class Flow(list):
    """An ordered list of :class:`Stage` with insertion by name."""

    def names(self) -> list[str]:
        return [s.name for s in self]

    def index_of(self, name: str) -> int:
        try:
            return self.names().index(name)
        except ValueError:
            raise ConfigError(f"no stage named '{name}' (stages: {', '.join(self.names())})") from None

    def insert_after(self, name: str, stage: Stage) -> "Flow":
        self.insert(self.index_of(name) + 1, stage)
        return self

    def insert_before(self, name: str, stage: Stage) -> "Flow":
        self.insert(self.index_of(name), stage)
        return self

    def replace(self, name: str, stage: Stage) -> "Flow":
        self[self.index_of(name)] = stage
        return self
