"""The board catalogue: one YAML file per board under ``boards/``, validated on load.

A board file names the part, its resources (from the vendor data sheet it cites), the default
accelerator clock, the toolchain that can implement it ('open': yosys + nextpnr here; 'vivado':
vendor tools, synthesis estimates only) and, for open boards, the clock/reset/UART pins and the
constraint file the board top uses.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from hwkit.errors import ConfigError

FAMILIES = {"ecp5", "ice40", "gw1n", "gw2a", "zynq7000", "zynqmp", "artix7", "virtexup"}
TOOLCHAINS = {"open", "vivado"}
CONSTRAINT_SUFFIX = {"ecp5": ".lpf", "ice40": ".pcf"}
DEFAULT_BOARD = "ulx3s"
# part, device, package, speed grade, pins and nextpnr options reach Tcl, Makefiles and tool command lines:
# only characters no such language treats specially
TOKEN = re.compile(r"[A-Za-z0-9_.-]+")
# part numbers may carry one grade suffix after a slash (Gowin: GW1NR-LV9QN88PC6/I5); never a path
PNR_ARCH = {"gw1n": "himbaechel-gowin", "gw2a": "himbaechel-gowin"}   # nextpnr binary per family
PNR_KEYS = ("arch", "device", "package", "speed", "family")   # family: himbaechel-gowin's --vopt family
PART = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?")
MAX_MHZ = 1000.0


def boards_dir() -> Path:
    """``$HWKIT_BOARDS`` if set, else the shipped catalogue (:mod:`hwkit.resources`)."""
    from hwkit.resources import boards_dir as shipped

    return shipped()


@dataclass(frozen=True)
class Resources:
    lut: int
    lut_inputs: int
    ff: int
    bram_blocks: int
    bram_block_bits: int
    bram_bits: int
    dsp: int
    dsp_kind: str
    io: Optional[int]
    uram_blocks: int = 0
    spram_blocks: int = 0

    def as_dict(self) -> dict:
        return {"lut": self.lut, "ff": self.ff, "bram": self.bram_blocks, "bram_bits": self.bram_bits,
                "dsp": self.dsp, "uram": self.uram_blocks, "io": self.io}


@dataclass(frozen=True)
class Pins:
    clock: str
    clock_mhz: float
    reset: str
    reset_active_low: bool
    uart_tx: str
    uart_rx: str


@dataclass(frozen=True)
class Board:
    name: str
    title: str
    vendor: str
    family: str
    part: str
    device: str
    package: str
    speed_grade: str
    toolchain: str
    clock_mhz: float
    resources: Resources
    source: tuple[str, ...]
    pins: Optional[Pins] = None
    constraints: Optional[Path] = None
    pnr: dict = field(default_factory=dict)
    path: Optional[Path] = None
    uart_max_baud: Optional[int] = None   # highest reliable baud of the board's USB-UART bridge

    @property
    def is_open(self) -> bool:
        return self.toolchain == "open"


def _need(data: dict, key: str, kind, where: str) -> Any:
    if key not in data:
        raise ConfigError(f"{where}: missing field '{key}'")
    value = data[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ConfigError(f"{where}: field '{key}' must be {kinds[0].__name__}, got {value!r}")
    if not isinstance(value, kinds):
        raise ConfigError(f"{where}: field '{key}' must be {kinds[0].__name__}, got {value!r}")
    return value


def _token(data: dict, key: str, where: str, allow_empty: bool = False, kinds=(str,), pattern=TOKEN) -> str:
    """A field that enters generated Tcl/constraint files or tool arguments: ``[A-Za-z0-9_.-]+``
    (``pattern`` PART: one '/grade' suffix allowed)."""
    value = _need(data, key, kinds, where)
    text = str(value)
    if (text or not allow_empty) and not pattern.fullmatch(text):
        extra = " (and one '/' before a grade)" if pattern is PART else ""
        raise ConfigError(f"{where}: field '{key}' must contain only letters, digits, '_', '.' and '-'{extra}, "
                          f"got {text[:60]!r}")
    return text


def _mhz(data: dict, key: str, where: str) -> float:
    value = float(_need(data, key, (int, float), where))
    if not (math.isfinite(value) and 0 < value <= MAX_MHZ):
        raise ConfigError(f"{where}: field '{key}' must be a finite frequency in (0, {MAX_MHZ:g}] MHz, got {value}")
    return value


def _text(data: dict, key: str, where: str) -> str:
    value = _need(data, key, str, where)
    if not value.strip() or not value.isprintable() or len(value) > 200:
        raise ConfigError(f"{where}: field '{key}' must be one printable line of at most 200 characters")
    return value


def _count(data: dict, key: str, where: str, default: Optional[int] = None, nullable: bool = False):
    if default is not None and key not in data:
        return default
    value = _need(data, key, (int, type(None)) if nullable else int, where)
    if value is not None and value < 0:
        raise ConfigError(f"{where}: field '{key}' must be >= 0, got {value}")
    return value


def parse_board(data: Any, where: str, path: Optional[Path] = None) -> Board:
    """Validate one board mapping; ConfigError naming the file and field on the first problem."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of board fields")
    name = _token(data, "name", where)
    family = _need(data, "family", str, where)
    if family not in FAMILIES:
        raise ConfigError(f"{where}: field 'family' is '{family}', expected one of {sorted(FAMILIES)}")
    toolchain = _need(data, "toolchain", str, where)
    if toolchain not in TOOLCHAINS:
        raise ConfigError(f"{where}: field 'toolchain' is '{toolchain}', expected 'open' or 'vivado'")
    clock = _mhz(data, "clock_mhz", where)

    res = _need(data, "resources", dict, where)
    rw = f"{where}: resources"
    resources = Resources(
        lut=_count(res, "lut", rw), lut_inputs=_count(res, "lut_inputs", rw), ff=_count(res, "ff", rw),
        bram_blocks=_count(res, "bram_blocks", rw), bram_block_bits=_count(res, "bram_block_bits", rw),
        bram_bits=_count(res, "bram_bits", rw), dsp=_count(res, "dsp", rw),
        dsp_kind=_token(res, "dsp_kind", rw), io=_count(res, "io", rw, nullable=True),
        uram_blocks=_count(res, "uram_blocks", rw, default=0), spram_blocks=_count(res, "spram_blocks", rw, default=0),
    )
    if resources.lut == 0:
        raise ConfigError(f"{rw}: field 'lut' must be > 0")
    if resources.bram_bits != resources.bram_blocks * resources.bram_block_bits:
        raise ConfigError(f"{rw}: field 'bram_bits' is {resources.bram_bits}, but bram_blocks x bram_block_bits "
                          f"= {resources.bram_blocks * resources.bram_block_bits}")

    source = data.get("source")
    if not isinstance(source, list) or not source or not all(isinstance(s, str) and s.strip() for s in source):
        raise ConfigError(f"{where}: field 'source' must be a non-empty list citing the vendor data sheet")

    pins = None
    if data.get("pins") is not None:
        p = _need(data, "pins", dict, where)
        pw = f"{where}: pins"
        clk = _need(p, "clock", dict, pw)
        rst = _need(p, "reset", dict, pw)
        pins = Pins(clock=_token(clk, "pin", f"{pw}.clock", kinds=(str, int)),
                    clock_mhz=_mhz(clk, "mhz", f"{pw}.clock"),
                    reset=_token(rst, "pin", f"{pw}.reset", kinds=(str, int)),
                    reset_active_low=bool(_need(rst, "active_low", bool, f"{pw}.reset")),
                    uart_tx=_token(p, "uart_tx", pw, kinds=(str, int)),
                    uart_rx=_token(p, "uart_rx", pw, kinds=(str, int)))

    constraints = data.get("constraints")
    if constraints is not None:
        if not isinstance(constraints, str) or not TOKEN.fullmatch(constraints) or constraints.startswith("."):
            raise ConfigError(f"{where}: field 'constraints' must be a file name under boards/, got {constraints!r}")
        constraints = (path.parent if path else boards_dir()) / constraints
    pnr = data.get("pnr") or {}
    if toolchain == "open":
        if pins is None:
            raise ConfigError(f"{where}: missing field 'pins' (open-toolchain boards need clock/reset/UART pins)")
        if constraints is None:
            raise ConfigError(f"{where}: missing field 'constraints' (open-toolchain boards need a constraint file)")
        suffix = CONSTRAINT_SUFFIX.get(family)
        if suffix and constraints.suffix != suffix:
            raise ConfigError(f"{where}: field 'constraints' must be a {suffix} file for family {family}")
        if not isinstance(pnr, dict) or "device" not in pnr or "package" not in pnr:
            raise ConfigError(f"{where}: field 'pnr' needs 'device' and 'package' for nextpnr")
        _check_pnr(pnr, family, f"{where}: pnr")
    elif not isinstance(pnr, dict):
        raise ConfigError(f"{where}: field 'pnr' must be a mapping")

    uart_max_baud = data.get("uart_max_baud")
    if uart_max_baud is not None and (isinstance(uart_max_baud, bool) or not isinstance(uart_max_baud, int)
                                      or uart_max_baud <= 0):
        raise ConfigError(f"{where}: field 'uart_max_baud' must be a positive integer (baud), got {uart_max_baud!r}")

    return Board(
        name=name, title=_text(data, "title", where), vendor=_token(data, "vendor", where),
        family=family, part=_token(data, "part", where, pattern=PART), device=_token(data, "device", where, pattern=PART),
        package=_token(data, "package", where), speed_grade=_token(data, "speed_grade", where, allow_empty=True, pattern=PART),
        toolchain=toolchain, clock_mhz=clock, resources=resources, source=tuple(source), pins=pins,
        constraints=constraints, pnr=dict(pnr), path=path, uart_max_baud=uart_max_baud,
    )


def _check_pnr(pnr: dict, family: str, where: str) -> None:
    """nextpnr options: known keys, token values, and the device from nextpnr's own device list."""
    from hwkit.tools.nextpnr import ECP5_DEVICES, ICE40_DEVICES

    for key in pnr:
        if key not in PNR_KEYS:
            raise ConfigError(f"{where}: unknown field {str(key)[:40]!r} (expected {', '.join(PNR_KEYS)})")
        _token(pnr, key, where, kinds=(str, int), pattern=PART if key == "device" else TOKEN)
    known = {"ecp5": ECP5_DEVICES, "ice40": ICE40_DEVICES}.get(family)
    device = str(pnr["device"]).lower()
    if known is not None and device not in known:
        raise ConfigError(f"{where}: field 'device' is {device!r}, nextpnr-{family} knows {', '.join(sorted(known))}")
    if "arch" in pnr and pnr["arch"] != PNR_ARCH.get(family, family):
        raise ConfigError(f"{where}: field 'arch' is {pnr['arch']!r} but the board family is '{family}'")


def list_boards() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.yaml"))


def load_board(name: str) -> Board:
    """Board ``name`` (a catalogue name like 'ulx3s', or a path to a board YAML file)."""
    if not isinstance(name, str) or not name:
        raise ConfigError("board name must be a non-empty string")
    path = Path(name)
    if path.suffix not in (".yaml", ".yml"):
        path = boards_dir() / f"{name.lower()}.yaml"
        if not TOKEN.fullmatch(name) or not path.is_file():
            raise ConfigError(f"unknown board '{name}': choose one of {', '.join(list_boards())}")
    elif not path.is_file():
        raise ConfigError(f"board file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read board file {path}: {type(err).__name__}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path.name}:{line} is not valid YAML") from None
    board = parse_board(data, path.name, path)
    if board.name != path.stem:
        raise ConfigError(f"{path.name}: field 'name' is '{board.name}' but the file is named '{path.stem}'")
    return board


def boards_table():
    """A rich table of the catalogue (``hwkit boards``)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="hwkit boards")
    for col, justify in (("name", "left"), ("part", "left"), ("family", "left"), ("LUT", "right"),
                         ("FF", "right"), ("BRAM", "right"), ("DSP", "right"), ("clock MHz", "right"),
                         ("toolchain", "left")):
        table.add_column(col, justify=justify)
    for name in list_boards():
        b = load_board(name)
        r = b.resources
        table.add_row(escape(b.name), escape(b.part), escape(b.family), f"{r.lut:,}", f"{r.ff:,}",
                      f"{r.bram_blocks} x {r.bram_block_bits // 1024}Kb", str(r.dsp), f"{b.clock_mhz:g}",
                      escape(b.toolchain))
    return table
