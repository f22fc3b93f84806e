"""The one-command flow: a named, extensible list of stages run into one build directory.

Each stage is a function ``fn(ctx) -> dict`` that writes its artefacts into ``ctx.workdir`` and returns
a small JSON-able result. The runner gives every stage a temporary directory ``.<name>.partial-<pid>``,
writes the stage record ``stage.json`` into it last and renames it to ``<NN>-<name>/`` only on success,
so a directory that looks finished is finished. A stage whose key (its own name and version, the build
settings, hwkit's own code (hwkit.builddir.code_hash), the content of the files it reads from outside and
the hashes of the earlier stages' artefacts it depends on) matches a finished record is skipped, once its files on disk and its record
hash as recorded; a changed input or file re-runs it and everything after it. ``manifest.json`` lists
all stages. Stage bodies: :mod:`hwkit.stages` (backend-free) and each backend's ``steps()``; who may
write into the directory: :mod:`hwkit.builddir`.

Users extend the flow like FINN's step lists: ``flow = default_flow(); flow.insert_after('lower', Stage(...))``.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import shutil
import signal
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional

from hwkit.atomic import write_json
from hwkit.builddir import hash_file, hash_tree  # noqa: F401  (part of this module's API)
from hwkit.data import LOADERS
from hwkit.errors import BuildFailedError, ConfigError, HwkitError
from hwkit.stages.flow import Flow, Stage  # noqa: F401  (part of this module's API)
from hwkit.stages.model import default_model  # noqa: F401

RECORD = "stage.json"
MANIFEST = "manifest.json"
FAILED = "failed"  # logs of failed stages, kept until the stage succeeds
SCHEMA_VERSION = 1
FIFO_SIZING = ("heuristic", "simulation")
TOPS = ("", "uart", "axis", "core")


@dataclass
class BuildConfig:
    """Settings of one build; a YAML file with these keys reproduces it (``hwkit build CONFIG.yaml``)."""

    model: str = ""  # QONNX .onnx file, or '' for the shipped default model
    board: str = "ulx3s"
    backend: str = "rtl"
    target_fps: Optional[float | str] = None  # samples/s that sets PE/SIMD; 'max': the fastest that fits; None: default
    clock_mhz: Optional[float] = None  # None: the board's default clock
    seed: int = 0
    out: str = ""  # build directory; '' -> build/<model>-<board>-<backend>
    # test data for accuracy and cosim: a bundled dataset name or a .npz (arrays x, optional y); '' picks
    # the dataset recorded with the model, else the bundled one that fits its input, else random grid inputs
    data: str = ""
    dataset: str = ""  # older name of ``data`` (a bundled dataset name); ``data`` wins when both are set
    n_vectors: int = 0  # random grid vectors beside the test data; 0 -> 1,000 within a cosim cycle budget
    fifo_sizing: str = "heuristic"  # rtl FIFO depths: 'heuristic' (the plan's rule) or 'simulation' (measured)
    top: str = ""  # rtl: 'uart' (board top, bitstream; the default), 'axis' or 'core' (IP, out of context)
    # a float-input model's input quantizer (hwkit.ir.input_format: fixed<16,6>, ufixed<W,I>, int<B>*2^E);
    # '' picks one from the data when the model has none
    input_format: str = ""
    extra: dict = field(default_factory=dict)  # settings for user-inserted stages

    def validate(self, where: str = "build config") -> "BuildConfig":
        from hwkit.backends import BACKENDS

        if self.backend not in BACKENDS:
            raise ConfigError(f"{where}: field 'backend' is '{self.backend}', expected one of {', '.join(BACKENDS)}")
        def number(name, lo, hi):  # finite and in range: inf, nan, 1e-320 and booleans are typos
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not (math.isfinite(v) and lo <= v <= hi)):
                raise ConfigError(f"{where}: field '{name}' must be a finite number in [{lo:g}, {hi:g}], got {v!r}")

        def whole(name, lo, hi):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ConfigError(f"{where}: field '{name}' must be an integer in {lo}..{hi}, got {v!r}")

        from hwkit.backends import get_backend

        if self.target_fps != "max":
            number("target_fps", 1e-6, 1e12)
        elif not get_backend(self.backend).fastest_fit:
            raise ConfigError(f"{where}: target_fps 'max' is for the rtl backend; give {self.backend} a number")
        number("clock_mhz", 1e-3, 1000)
        whole("seed", 0, 2**32 - 1)
        whole("n_vectors", 0, 2**31 - 1)
        for name in ("model", "board", "out", "data", "dataset", "input_format"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{where}: field '{name}' must be a string, got {getattr(self, name)!r}")
        if self.top not in TOPS:
            raise ConfigError(f"{where}: field 'top' is {self.top!r}, expected one of {', '.join(TOPS[1:])}")
        if self.fifo_sizing not in FIFO_SIZING:
            raise ConfigError(f"{where}: field 'fifo_sizing' is {self.fifo_sizing!r}, expected one of "
                              f"{', '.join(FIFO_SIZING)}")
        if self.input_format:
            from hwkit.ir.input_format import parse_input_format

            parse_input_format(self.input_format, f"{where}: field 'input_format'")
        if not isinstance(self.extra, dict):
            raise ConfigError(f"{where}: field 'extra' must be a mapping")
        from hwkit.boards import load_board

        board = load_board(self.board)  # unknown board -> ConfigError before anything is written
        if self.top in ("axis", "core") and board.is_open and board.family != "ecp5":
            raise ConfigError(f"{where}: --top {self.top} is placed and routed out of context, which nextpnr offers "
                              f"for ECP5 only; on {board.name} ({board.family}) use --top uart")
        if self.top:
            tops = get_backend(self.backend).tops
            if self.top not in tops:
                raise ConfigError(f"{where}: --top {self.top}: the {self.backend} backend builds "
                                  f"{'--top ' + ' | '.join(tops) if tops else 'its own top (no --top)'}")
        if self.data_choice and self.data_choice not in LOADERS and not Path(self.data_choice).is_file():
            raise ConfigError(f"{where}: field 'data' is '{self.data_choice}', neither a bundled dataset "
                              f"({', '.join(LOADERS)}) nor an existing .npz file")
        return self

    @property
    def data_choice(self) -> str:
        """The data the user asked for ('' = automatic)."""
        return self.data or self.dataset

    def key_dict(self) -> dict:
        """Settings that change artefacts (the output directory does not; the data and the FIFO sizing key
        only the stages that read them, through their ``key_inputs``, so a new test set does not re-run
        synthesis and FIFO sizing does not re-run export; the input format keys export, through its key_inputs)."""
        d = asdict(self)
        for name in ("out", "data", "dataset", "fifo_sizing", "top", "input_format"):
            d.pop(name)
        return d


def load_config(path: str | Path) -> BuildConfig:
    """Read and validate a build config YAML; unknown keys and wrong types are one-line errors."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"build config not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ConfigError(f"{path.name}:{f' line {mark.line + 1}' if mark else ''} is not valid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: expected a mapping of build settings")
    known = {f.name for f in fields(BuildConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path.name}: unknown field '{unknown[0]}' (known: {', '.join(sorted(known))})")
    cfg = BuildConfig(**data)
    if cfg.model and not Path(cfg.model).is_absolute():
        cfg.model = str((path.parent / cfg.model).resolve()) if (path.parent / cfg.model).exists() else cfg.model
    if isinstance(cfg.data, str) and cfg.data and cfg.data not in LOADERS and not Path(cfg.data).is_absolute() \
            and (path.parent / cfg.data).exists():  # a data file named relative to the config, like the model
        cfg.data = str((path.parent / cfg.data).resolve())
    return cfg.validate(path.name)


@dataclass
class BuildContext:
    """What a stage sees: settings, the build directory, earlier stages' results and directories."""

    config: BuildConfig
    build_dir: Path
    workdir: Path = None  # the running stage's temporary directory
    results: dict = field(default_factory=dict)  # stage name -> result dict
    dirs: dict = field(default_factory=dict)  # stage name -> finished directory
    tools: dict = field(default_factory=dict)  # tool versions recorded by the running stage
    cache: dict = field(default_factory=dict)  # in-process objects (board, graph) shared by stages
    log: Callable[[str], None] = lambda msg: None

    def stage_dir(self, name: str) -> Path:
        if name not in self.dirs:
            raise BuildFailedError(f"stage '{name}' has not run before this one")
        return self.dirs[name]

    def artefact(self, stage: str, filename: str) -> Path:
        return self.stage_dir(stage) / filename

    def record_tool(self, name: str, version: str) -> None:
        self.tools[name] = version


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _digest(obj: Any) -> str:
    return _sha256_bytes(json.dumps(obj, sort_keys=True, default=str).encode())


def write_json_atomic(path: Path, obj: Any) -> None:
    write_json(path, obj, default=str)


def _stage_dirname(index: int, name: str) -> str:
    return f"{index:02d}-{name}"


def _read_record(d: Path) -> Optional[dict]:
    try:
        return json.loads((d / RECORD).read_text())
    except (OSError, ValueError):
        return None


def _raise_on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run_flow(flow: Flow, config: BuildConfig, build_dir: Path, *, force: bool = False,
             console=None, upto: Optional[str] = None, overwrite: bool = False) -> BuildContext:
    """Run ``flow`` into ``build_dir``; returns the context with every stage's result.

    A finished stage with the same key whose files on disk still hash as recorded is skipped unless
    ``force``. ``build_dir`` must be empty, missing or an hwkit build (``overwrite``: any folder, but
    hwkit still replaces only what it wrote); one build at a time holds it. On a stage failure the
    partial directory is removed, the manifest records the failure and the error propagates (hwkit
    errors as they are, anything else as BuildFailedError naming the stage)."""
    from rich.console import Console

    from hwkit import builddir

    console = console or Console(stderr=True)
    names = flow.names()
    if len(set(names)) != len(names):
        raise ConfigError(f"stage names must be unique: {names}")
    build_dir = Path(build_dir)
    if build_dir.exists() and not build_dir.is_dir():
        raise ConfigError(f"build directory {build_dir} is a file: choose another --out")
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create build directory {build_dir}: {err.strerror}") from None
    code = builddir.code_hash()   # before the lock: hashing hwkit's files takes a while and needs no lock
    with builddir.locked(build_dir):  # first: a build in progress is told apart from a foreign folder
        builddir.claim(build_dir, overwrite=overwrite)
        if not (build_dir / MANIFEST).exists():  # an hwkit build from now on, even if killed mid-stage
            write_json_atomic(build_dir / MANIFEST, {"schema_version": SCHEMA_VERSION, "config": asdict(config),
                                                     "stages": []})
        builddir.clean_partials(build_dir, {_stage_dirname(i, s.name) for i, s in enumerate(flow)})
        return _run_flow_locked(flow, config, build_dir, force, console, upto, code)


def _recorded_digests(build_dir: Path) -> dict:
    """Stage name -> sha256 of its stage.json as the last run's manifest recorded it."""
    try:
        manifest = json.loads((build_dir / MANIFEST).read_text())
        return {e["name"]: e["record"] for e in manifest.get("stages", []) if e.get("record")}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def _unchanged_on_disk(final: Path, record: dict, recorded: Optional[str]) -> bool:
    """The stage's files hash as its record says, and the record is the one the manifest recorded."""
    return recorded == hash_file(final / RECORD) and hash_tree(final) == record.get("artefacts")


def _run_flow_locked(flow: Flow, config: BuildConfig, build_dir: Path, force: bool, console,
                     upto: Optional[str], code: str) -> BuildContext:
    recorded = _recorded_digests(build_dir)
    ctx = BuildContext(config=config, build_dir=build_dir, log=lambda m: console.print(f"    {m}", highlight=False))
    manifest = {"schema_version": SCHEMA_VERSION, "config": asdict(config), "stages": []}
    upstream: dict[str, str] = {}  # stage name -> digest of its artefacts
    config_digest = _digest(config.key_dict())
    old_handler = None
    try:
        old_handler = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    except ValueError:  # not the main thread
        pass
    try:
        for index, stage in enumerate(flow):
            final = build_dir / _stage_dirname(index, stage.name)
            deps = list(upstream) if stage.deps is None else list(stage.deps)
            missing = [d for d in deps if d not in upstream]
            if missing:
                raise ConfigError(f"stage '{stage.name}' depends on '{missing[0]}', which does not run before it")
            inputs = {"config": config_digest, "code": code, **{f"stage:{k}": upstream[k] for k in deps}}
            for path in (stage.input_files(config) if stage.input_files else []):
                inputs[f"file:{Path(path).name}"] = hash_file(Path(path))
            inputs.update(stage.key_inputs(config) if stage.key_inputs else {})
            key = _digest({"stage": stage.name, "version": stage.version, "inputs": inputs})
            record = _read_record(final) if final.is_dir() else None
            t0 = time.monotonic()
            fresh = record and record.get("key") == key and record.get("status") in ("ok", "not_applicable")
            changed = bool(fresh) and not force and not _unchanged_on_disk(final, record, recorded.get(stage.name))
            if fresh and not force and not changed:
                status = "skipped"
            else:
                record = _run_stage(stage, ctx, build_dir, final, key, inputs, console)
                status = "changed" if changed else record["status"]
            ctx.results[stage.name] = record.get("result", {})
            ctx.dirs[stage.name] = final
            upstream[stage.name] = _digest(record["artefacts"])
            manifest["stages"].append({
                "name": stage.name, "dir": final.name, "status": record["status"], "ran": status != "skipped",
                "seconds": record["seconds"], "key": key, "artefacts": sorted(record["artefacts"]),
                "record": hash_file(final / RECORD),
            })
            write_json_atomic(build_dir / MANIFEST, manifest)
            mark = {"skipped": "[dim]= cached[/]", "changed": "[yellow]~ changed on disk, re-run[/]",
                    "not_applicable": "[yellow]- n/a[/]",
                    "unavailable": "[yellow]? unavailable[/]"}.get(status, "[green]ok[/]")
            shown = time.monotonic() - t0 if status != "skipped" else record["seconds"]
            console.print(f"  {mark:<22} {stage.name:<16} {shown:7.2f} s  {_one_line(record.get('result', {}))}",
                          highlight=False, soft_wrap=True)
            if upto and stage.name == upto:
                break
        else:
            _remove_stale_stages(build_dir, {d.name for d in ctx.dirs.values()})
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)
    return ctx


def _remove_stale_stages(build_dir: Path, keep: set) -> None:
    """Stage directories of an earlier flow (another stage list numbers them differently) that this
    run did not produce: removed when they carry hwkit's stage record, so none can pass for current."""
    for d in sorted(build_dir.iterdir()):
        if d.is_dir() and d.name not in keep and re.fullmatch(r"\d{2}-[A-Za-z0-9_]+", d.name) \
                and _read_record(d) is not None:
            stale = build_dir / f".{d.name}.stale-{os.getpid()}"
            os.replace(d, stale)
            shutil.rmtree(stale, ignore_errors=True)


def _one_line(result: dict) -> str:
    note = result.get("summary") or result.get("reason") or ""
    return str(note)[:90]


def _run_stage(stage: Stage, ctx: BuildContext, build_dir: Path, final: Path, key: str, inputs: dict, console) -> dict:
    from hwkit.builddir import check_replaceable

    check_replaceable(final, stage.name)  # before any work: a folder hwkit did not write stays
    partial = build_dir / f".{final.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    ctx.workdir, ctx.tools = partial, {}
    start = time.monotonic()
    try:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        if console.is_terminal:  # a live line with the elapsed time; logs and pipes get the summary line only
            with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn(),
                          console=console, transient=True) as progress:
                progress.add_task(f"{stage.name}: {stage.description}", total=None)
                result = stage.fn(ctx) or {}
        else:
            result = stage.fn(ctx) or {}
        json.dumps(result)  # results must be JSON-able before anything is marked finished
    except BaseException as err:
        try:
            kept = _keep_failed_logs(partial, build_dir / FAILED / final.name)
        except OSError:  # a full disk must not hide the stage's own error
            kept = None
        shutil.rmtree(partial, ignore_errors=True)
        with contextlib.suppress(OSError):
            _record_failure(build_dir, stage, err, time.monotonic() - start)
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        msg = str(err) if isinstance(err, HwkitError) else f"stage '{stage.name}' failed: {type(err).__name__}: {err}"
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            msg = (f"stage '{stage.name}' failed: no space left under {build_dir}; free some and rerun "
                   f"(finished stages are kept)")
        if kept is not None:  # the message names a log in the removed directory: point at the kept copy
            msg = msg.replace(str(partial), str(kept))
        cls = type(err) if isinstance(err, HwkitError) else BuildFailedError
        try:
            new = cls(msg.splitlines()[0] if msg else type(err).__name__)
        except TypeError:  # an error type with its own constructor: keep it as it was
            raise err from None
        raise new from err
    seconds = time.monotonic() - start
    # not_applicable: finished, nothing to do for this board/backend; unavailable: a module or tool this
    # stage needs is missing, recorded but re-tried on the next run
    status = result.get("status") if result.get("status") in ("not_applicable", "unavailable") else "ok"
    record = {
        "schema_version": SCHEMA_VERSION, "stage": stage.name, "version": stage.version, "key": key,
        "inputs": inputs, "tools": dict(sorted(ctx.tools.items())), "seconds": round(seconds, 3),
        "status": status, "result": result, "artefacts": hash_tree(partial),
    }
    write_json(partial / RECORD, record)  # written last
    if final.exists():  # stale result of other inputs: move aside first so the rename below is atomic
        stale = build_dir / f".{final.name}.stale-{os.getpid()}"
        os.replace(final, stale)
        shutil.rmtree(stale, ignore_errors=True)
    os.replace(partial, final)
    shutil.rmtree(build_dir / FAILED / final.name, ignore_errors=True)
    with contextlib.suppress(OSError):
        (build_dir / FAILED).rmdir()  # only when no other stage's logs are kept there
    ctx.workdir = None
    return record


def _keep_failed_logs(partial: Path, dest: Path) -> Path | None:
    """Copy the logs of a failed stage to ``dest`` (outside any stage directory, so nothing looks
    finished) before the partial directory goes: the error line names them."""
    logs = sorted(p for p in partial.rglob("*.log") if p.is_file()) if partial.is_dir() else []
    if not logs:
        return None
    shutil.rmtree(dest, ignore_errors=True)
    for p in logs:
        target = dest / p.relative_to(partial)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, target)
    return dest


def _record_failure(build_dir: Path, stage: Stage, err: BaseException, seconds: float) -> None:
    path = build_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        manifest = {"schema_version": SCHEMA_VERSION, "stages": []}
    msg = str(err).splitlines()[0] if str(err) else type(err).__name__
    manifest["stages"].append({"name": stage.name, "status": "failed", "ran": True, "seconds": round(seconds, 3),
                               "error": f"{type(err).__name__}: {msg}"})
    write_json_atomic(path, manifest)


# ---- the default flow --------------------------------------------------------------------------

def default_flow(backend: str = "rtl") -> Flow:
    """export, lower, golden sim, estimate, generate, cosim (hwkit.stages, backend-free), the backend's
    own implementation steps (rtl: synthesize, place & route, timing re-closure, bitstream), report."""
    from hwkit import stages as s
    from hwkit.backends import get_backend
    from hwkit.stages.model import data_key, export_inputs, export_key

    return Flow([
        Stage("export", s.export, "model -> cleaned QONNX", version=2, deps=(), input_files=export_inputs,
              key_inputs=export_key),
        Stage("lower", s.lower, "QONNX -> HwGraph", version=3, deps=("export",)),
        Stage("golden_sim", s.golden_sim, "integer simulation, accuracy, cycle model", version=3,
              deps=("export", "lower"), key_inputs=data_key),
        Stage("estimate", s.estimate, "analytic LUT/FF/BRAM/DSP vs board", version=4, deps=("lower",)),
        Stage("generate", s.generate, "backend sources", version=3, deps=("export", "lower"),
              key_inputs=lambda config: {"fifo_sizing": config.fifo_sizing}),
        Stage("cosim", s.cosim, "backend simulation vs golden", version=3,
              deps=("export", "lower", "golden_sim", "generate")),
        *get_backend(backend).steps(),
        Stage("report", s.report, "report.json + report.html"),
    ])


def default_build_dir(config: BuildConfig) -> Path:
    stem = Path(config.model).name.split(".")[0] if config.model else "tfc_w2a2_digits"
    return Path("build") / safe_name(f"{stem}-{config.board}-{config.backend}")


def safe_name(text: str) -> str:
    """A file-name-safe version of a name taken from a model or config."""
    from hwkit.names import file_stem

    return file_stem(text, 80)


def build(config: BuildConfig, flow: Optional[Flow] = None, *, force: bool = False, console=None,
          overwrite: bool = False) -> BuildContext:
    """Validate ``config`` and run the flow; returns the context (``ctx.build_dir`` holds everything)."""
    config.validate()
    if config.model:
        if not Path(config.model).is_file():
            raise ConfigError(f"model file not found: {config.model}")
    out = Path(config.out) if config.out else default_build_dir(config)
    ctx = run_flow(flow if flow is not None else default_flow(config.backend), config, out, force=force,
                   console=console, overwrite=overwrite)
    from hwkit.stages import publish_report

    publish_report(out, ctx)
    return ctx


def build_from_cli(model: Optional[str], *, board=None, backend=None, target_fps=None, clock_mhz=None, out=None,
                   force: bool = False, overwrite: bool = False, data=None, fifo_sizing=None,
                   top=None, input_format=None) -> BuildContext:
    """``hwkit build``: a config YAML or a model path, with command-line options overriding the file."""
    from rich.console import Console

    console = Console(stderr=True)
    if model and Path(model).suffix in (".yaml", ".yml"):
        config = load_config(model)
    else:
        config = BuildConfig(model=str(Path(model).resolve()) if model else "")
    for name, value in (("board", board), ("backend", backend), ("target_fps", target_fps),
                        ("clock_mhz", clock_mhz), ("out", str(out) if out else None), ("fifo_sizing", fifo_sizing), ("top", top),
                        ("input_format", input_format),
                        ("data", data if not data or data in LOADERS else str(Path(data).resolve()))):
        if value is not None:
            setattr(config, name, value)
    config.validate()
    out_dir = Path(config.out) if config.out else default_build_dir(config)
    console.print(f"[bold]hwkit build[/] {Path(config.model).name if config.model else 'tfc_w2a2_digits (default)'}"
                  f" -> {config.board} ({config.backend}) in {out_dir}", highlight=False, soft_wrap=True)
    ctx = build(config, force=force, console=console, overwrite=overwrite)
    report = ctx.build_dir / "report.html"
    bits = ctx.dirs.get("bitstream")
    bit = next(iter(sorted(p for p in bits.iterdir() if p.suffix in (".bit", ".bin", ".fs"))), None) \
        if bits is not None and bits.is_dir() else None
    console.print(f"report: {report}" + (f"\nbitstream: {bit}" if bit else ""), highlight=False, soft_wrap=True)
    return ctx
