"""The one results file of a search: ``{"config": ..., "points": {key: record}}``, rewritten
atomically after every finished point so that a kill loses nothing that finished."""
from __future__ import annotations

import json
from pathlib import Path

from hwkit.atomic import write_json
from hwkit.errors import ConfigError

FILE = "search.json"


class Store:
    def __init__(self, root: Path, config: dict):
        self.path = Path(root) / FILE
        self.config = config
        self.points: dict[str, dict] = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
                self.points = dict(data["points"])
            except (ValueError, KeyError, TypeError):
                raise ConfigError(f"{self.path} is not a search results file; move it away or use another --out") from None

    def __contains__(self, key: str) -> bool:
        return key in self.points

    def add(self, key: str, record: dict) -> None:
        self.points[key] = record
        self.save()

    def save(self) -> None:
        write_json(self.path, {"config": self.config, "points": self.points})

    def records(self, phase: str | None = None) -> list[dict]:
        return [r for r in self.points.values() if phase is None or r.get("phase") == phase]
