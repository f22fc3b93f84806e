"""QONNX -> hls4ml project with exact precisions, compiled C emulation cached by content hash."""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import io
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from hwkit.backends.hls4ml.naming import MVU_CLASSES
from hwkit.errors import ConfigError, UnsupportedModelError
from hwkit.names import identifier, tcl_quote

BACKENDS = ("Vitis", "Vivado")
IO_TYPES = {"parallel": "io_parallel", "stream": "io_stream", "io_parallel": "io_parallel", "io_stream": "io_stream"}
DEFAULT_PART = "xc7z020clg400-1"


def sanitize(name: str) -> str:
    return identifier(str(name).strip("_") or "model", 48, "m_")


def cache_dir() -> Path:
    return Path(os.environ.get("HWKIT_CACHE", Path.home() / ".cache" / "hwkit")) / "hls4ml"


@dataclass
class Hls4mlProject:
    model: object  # hls4ml ModelGraph
    out_dir: Path
    backend: str
    io_type: str
    part: str
    reuse: dict
    in_grid: object
    out_grid: object
    qonnx_clean: Path
    qonnx_ref: Path
    notes: list = field(default_factory=list)
    hw_names: dict = field(default_factory=dict)  # hls4ml matrix layer -> HwGraph MVU of the same name
    stamp: Optional[str] = None
    compile_seconds: float = 0.0
    cached: bool = False
    _fn: object = None

    @property
    def name(self) -> str:
        return self.model.config.get_project_name()

    def info(self) -> dict:
        return {"backend": self.backend, "io_type": self.io_type, "part": self.part, "project": self.name,
                "out_dir": str(self.out_dir), "reuse_factor": dict(sorted(self.reuse.items())),
                "input_type": str(self.in_grid.fixed()), "output_type": str(self.out_grid.fixed()),
                "build_script": str(self.out_dir / "build_prj.tcl"), "stamp": self.stamp,
                "compile_seconds": round(self.compile_seconds, 3), "cached": self.cached, "notes": list(self.notes)}

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Run the compiled C emulation on real-valued inputs (n, *input shape in the cleaned model's
        layout), one ctypes call per sample without per-call allocation. Returns (n, outputs) float64."""
        if self._fn is None:
            raise ConfigError("hls4ml project not compiled: call compile_project(project) first")
        n = x.shape[0]
        xin = np.ascontiguousarray(x, dtype=np.float64).reshape(n, -1)
        n_out = int(self.model.get_output_variables()[0].size())
        y = np.zeros((n, n_out), dtype=np.float64)
        fn, xp, yp = self._fn, xin.ctypes.data, y.ctypes.data
        xs, ys = xin.shape[1] * 8, n_out * 8
        for i in range(n):
            fn(xp + i * xs, yp + i * ys)
        return y


def clean_qonnx(model):
    """hls4ml's documented QONNX preparation; returns a new ModelWrapper. Nodes tagged with their
    HwGraph names (:func:`.naming.tag_nodes`) keep their tags, a Gemm's passing to its MatMul."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    from hwkit.backends.hls4ml.naming import carry_gemm_tags, tag_of

    m = model if isinstance(model, ModelWrapper) else ModelWrapper(str(model))
    m = _default_attrs(ModelWrapper(m.model.__deepcopy__()))
    m = cleanup_model(m)
    m = m.transform(ConvertToChannelsLastAndClean())
    gemms = {n.output[0]: tag_of(n) for n in m.graph.node if n.op_type == "Gemm" and tag_of(n)}
    m = m.transform(GemmToMatMul())
    carry_gemm_tags(m, gemms)
    return _drop_input_flatten(cleanup_model(m))


def _default_attrs(m):
    """qonnx's channels-last conversion and hls4ml's ONNX parser require ``strides``, ``dilations``,
    ``pads`` (and a Conv's ``group``) on convolutions and pools, which ONNX lets a file leave out
    (defaults 1, 1, 0 on every spatial axis, one group): write the defaults in."""
    from onnx import helper

    for node in m.graph.node:
        if node.op_type not in ("Conv", "MaxPool", "AveragePool"):
            continue
        have = {a.name: a for a in node.attribute}
        k = len(have["kernel_shape"].ints) if "kernel_shape" in have else None
        if k is None and node.op_type == "Conv" and m.get_initializer(node.input[1]) is not None:
            k = m.get_initializer(node.input[1]).ndim - 2
        if not k or "auto_pad" in have:
            continue
        defaults = [("strides", [1] * k), ("dilations", [1] * k), ("pads", [0] * 2 * k)]
        for name, value in defaults + ([("group", 1)] if node.op_type == "Conv" else []):
            if name not in have:
                node.attribute.append(helper.make_attribute(name, value))
    return m


def _drop_input_flatten(m):
    """An MLP reading an image starts with Flatten; hls4ml's io_stream then reads the image as
    H x W pixels of C channels but the Dense as one 64-wide word. Feeding the flat vector instead is
    the same function (row-major flatten) and works for both io types."""
    from onnx import helper
    from qonnx.transformation.infer_shapes import InferShapes

    inp = m.graph.input[0].name
    cons = m.find_consumers(inp) or []
    if len(cons) != 1 or cons[0].op_type not in ("Flatten", "Reshape"):
        return m
    node = cons[0]
    out_shape = m.get_tensor_shape(node.output[0])
    if out_shape is None or len(out_shape) != 2:
        return m
    elem_type = m.graph.input[0].type.tensor_type.elem_type
    for c in m.find_consumers(node.output[0]) or []:
        for i, name in enumerate(c.input):
            if name == node.output[0]:
                c.input[i] = inp
    m.graph.node.remove(node)
    m.graph.input[0].CopyFrom(helper.make_tensor_value_info(inp, elem_type, list(out_shape)))
    return m.transform(InferShapes())


def check_qonnx(model, approximate: bool = False) -> list[str]:
    """Refuse what hls4ml cannot compute exactly before converting: non-power-of-two scales,
    non-zero zero points, 1-bit bipolar quantizers (hls4ml 1.3.0 maps them to its own binary type,
    not FINN's bipolar convention the golden model uses)."""
    notes = []
    for node in model.graph.node:
        where = f"node '{node.name}' ({node.op_type})"
        if node.op_type == "BipolarQuant":
            raise UnsupportedModelError(
                f"hls4ml backend: 1-bit BipolarQuant at {where} is not supported; use >= 2 bits or the rtl backend")
        if node.op_type not in ("Quant", "Trunc"):
            continue
        scale = model.get_initializer(node.input[1])
        zp = model.get_initializer(node.input[2])
        why = None
        if scale is None:
            why = "its scale is computed at run time"
        else:
            e = np.log2(np.abs(np.asarray(scale, dtype=np.float64)))
            if not np.all(e == np.round(e)):
                why = f"scale {np.ravel(scale)[0]:.6g} is not a power of two (hls4ml would store it in fixed<16,6>)"
        if why is None and zp is not None and np.any(np.asarray(zp) != 0):
            why = "non-zero zero point"
        if why:
            consumers = [c.name for c in model.find_consumers(node.output[0]) or []]
            msg = f"{where} feeding {consumers or 'the output'}: {why}"
            if not approximate:
                raise UnsupportedModelError(
                    f"hls4ml backend cannot represent {msg}; use --backend rtl, or quantize with power-of-two scales "
                    "(Brevitas *FixedPoint quantizers, hwkit's preset 'pot')")
            notes.append(msg)
    return notes


def _config(mw, backend: str, reuse: dict, default_rf: int):
    import hls4ml

    with contextlib.redirect_stdout(io.StringIO()):
        cfg = hls4ml.utils.config.config_from_onnx_model(mw, granularity="name", backend=backend,
                                                         default_reuse_factor=default_rf)
    rfs = [default_rf, *reuse.values()]
    cfg["Model"]["Strategy"] = "Latency" if max(rfs) == 1 else "Resource"
    for name, rf in reuse.items():
        # hls4ml reads the reuse factor under the ONNX node's name before its optimizers rename the
        # layer (MatMul_0 -> Dense_MatMul_0): set it for every name the layer went by
        parts = name.split("_")
        for alias in {"_".join(parts[i:]) for i in range(len(parts))}:
            if any(ch.isalpha() for ch in alias):
                entry = cfg.setdefault("LayerName", {}).setdefault(alias, {})
                entry["ReuseFactor"] = int(rf)
                entry["Strategy"] = cfg["Model"]["Strategy"]
    return cfg


def _convert(mw, out_dir: Path, backend, io_type, part, reuse, default_rf, project, custom_setup):
    import hls4ml

    try:
        cfg = _config(mw, backend, reuse, default_rf)
        if custom_setup:
            custom_setup(cfg)
        with contextlib.redirect_stdout(io.StringIO()):
            return hls4ml.converters.convert_from_onnx_model(
                mw, output_dir=str(out_dir), project_name=project, io_type=io_type, backend=backend, part=part,
                hls_config=cfg)
    except Exception as err:  # hls4ml raises bare Exceptions for ops it has no handler for
        if "Unsupported operation type" not in str(err):
            raise
        raise UnsupportedModelError(
            f"hls4ml 1.3.0 cannot convert this model: {str(err).replace('ERROR: ', '')}") from None


def _reuse_by_hw_name(graph, reuse_factor) -> tuple[dict, int]:
    """({HwGraph MVU name: reuse factor}, the factor of any other) from the caller's choice."""
    if isinstance(reuse_factor, str) and reuse_factor == "folding":
        return reuse_from_folding(graph), 1
    if isinstance(reuse_factor, dict):
        mvus = {lay.name for lay in graph.layers if lay.kind == "MVU"}
        unknown = sorted(set(reuse_factor) - mvus)
        if unknown:
            raise ConfigError(f"reuse factor given for '{unknown[0]}', which is no matrix layer of the HwGraph "
                              f"(its matrix layers: {', '.join(sorted(mvus))})")
        return {k: int(v) for k, v in reuse_factor.items()}, 1
    if isinstance(reuse_factor, (int, np.integer)) and not isinstance(reuse_factor, bool):
        return {}, int(reuse_factor)
    raise ConfigError(f"reuse_factor must be an int, 'folding' or a dict by HwGraph layer name, got "
                      f"{type(reuse_factor).__name__} (reuse factors by list position are not accepted)")


def generate_hls4ml_project(
    qonnx_model, out_dir, io_type: str = "parallel", part: str = DEFAULT_PART,
    reuse_factor: Union[int, dict, str, None] = 1, backend: str = "Vitis", approximate: bool = False,
    name: str = "hwkit", write: bool = True, graph=None,
) -> Hls4mlProject:
    """Convert a QONNX model (path or ModelWrapper) into an hls4ml project in ``out_dir``.

    ``graph``: the HwGraph lowered from the same model (lowered here when None). Each hls4ml layer is
    matched to its HwGraph layer by name (:mod:`.naming`) and takes its precisions from it
    (:mod:`.precision`). ``reuse_factor``: an int for every matrix layer, ``'folding'`` for the
    graph's folding ((MH/PE)*(MW/SIMD) per MVU), or a dict {HwGraph MVU name: rf}. Models hls4ml
    cannot represent raise UnsupportedModelError naming the layer. ``approximate`` keeps hls4ml's own
    types (results may differ from the golden model).
    """
    from hwkit.backends.hls4ml import stable, stable_layers
    from hwkit.backends.hls4ml.naming import NameMap, tag_nodes, untagged
    from hwkit.backends.hls4ml.configure import HwPrecision
    from hwkit.backends.hls4ml.precision import Grid
    from hwkit.backends.hls4ml.support import refuse_unsupported
    from hwkit.errors import in_source_terms
    from hwkit.sourcenames import source_names

    if backend not in BACKENDS:
        raise ConfigError(f"hls4ml backend must be one of {', '.join(BACKENDS)}, got '{backend}'")
    if io_type not in IO_TYPES:
        raise ConfigError(f"io type must be 'parallel' or 'stream', got '{io_type}'")
    if not isinstance(part, str) or not part or not part.isprintable():
        raise ConfigError(f"hls4ml part must be a non-empty printable string, got {part!r}")
    io_type = IO_TYPES[io_type]
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    project = sanitize(name)

    from qonnx.core.modelwrapper import ModelWrapper

    from hwkit.ir.lower import clean_model, lower

    src = qonnx_model if isinstance(qonnx_model, ModelWrapper) else ModelWrapper(str(qonnx_model))
    ref_path = out_dir / "model.ref.onnx"  # the reference executes this one (exported layout)
    src.save(str(ref_path))
    named = clean_model(src)  # the model the HwGraph's layer names come from
    try:
        refuse_unsupported(named)
        notes = check_qonnx(named, approximate)
    except UnsupportedModelError as err:  # named as the user's file names the node
        raise in_source_terms(err, source_names(src)) from None
    if graph is None:
        graph = lower(named)
    tag_nodes(named)
    mw = clean_qonnx(named)
    clean_path = out_dir / "model.clean.onnx"
    untagged(mw).save(str(clean_path))
    stable_layers.register()  # always, so every project ships the same sources whatever ran before
    mw, custom_setup = stable.prepare(mw)
    names = NameMap(mw, graph)
    mw = untagged(mw)  # hls4ml embeds the model in its config: the tags stay out of the project
    mw.save(str(out_dir / "model.hls4ml.onnx"))

    rf_hw, rf_other = _reuse_by_hw_name(graph, 1 if reuse_factor is None else reuse_factor)
    hm = _convert(mw, out_dir, backend, io_type, part, {}, 1, project, custom_setup)
    layers = [lay for lay in hm.get_layers() if lay.class_name in MVU_CLASSES + stable.OPS]
    hw_of = {lay.name: names.layer(lay, ("MVU",)).name for lay in layers}
    reuse = {lay.name: int(rf_hw.get(hw_of[lay.name], rf_other)) for lay in layers}
    if io_type == "io_parallel":
        # hls4ml 1.3.0's io_parallel Resource convolution with reuse > kh*kw*C mismatched the golden
        # model (measured on the zoo CNV, 1016 of 2000 outputs at reuse 9216): cap it there
        for lay in layers:
            if lay.class_name in ("Conv1D", "Conv2D"):
                n_in = int(lay.get_attr("n_chan", 1) * lay.get_attr("filt_height", 1) * lay.get_attr("filt_width", 1))
                if reuse[lay.name] > n_in:
                    notes.append(f"{lay.name}: reuse factor {reuse[lay.name]} capped at {n_in} (io_parallel conv)")
                    reuse[lay.name] = n_in
    if any(r != 1 for r in reuse.values()):
        hm = _convert(mw, out_dir, backend, io_type, part, reuse, 1, project, custom_setup)

    ins, outs = hm.get_input_variables(), hm.get_output_variables()
    if len(ins) != 1 or len(outs) != 1:
        raise UnsupportedModelError("hls4ml backend: models with one input and one output only")
    layers = list(hm.get_layers())
    if approximate:  # hls4ml's own types throughout
        notes.append("approximate: hls4ml's own precisions, not the HwGraph's; results may differ")
        in_grid = Grid.of_type(layers[0].get_output_variable().type.precision)
        out_grid = Grid.of_type(layers[-1].get_output_variable().type.precision)
    else:
        exact = HwPrecision(hm, graph, names, custom=stable_layers.PRECISION).run()
        in_grid, out_grid = exact.grids.get(layers[0].outputs[0]), exact.grids.get(layers[-1].outputs[0])
    if in_grid is None or out_grid is None:
        raise UnsupportedModelError("hls4ml backend: could not type the model input/output exactly")
    layer_rf = {lay.name: int(lay.get_attr("reuse_factor", 1)) for lay in hm.get_layers()
                if lay.class_name in MVU_CLASSES or lay.class_name in stable.OPS}
    for lay, rf in sorted(layer_rf.items()):
        if rf != reuse[lay]:
            notes.append(f"{lay}: hls4ml chose reuse factor {rf} for the asked {reuse[lay]}")
    proj = Hls4mlProject(hm, out_dir, backend, io_type, part, layer_rf, in_grid, out_grid, clean_path,
                         ref_path, notes, hw_names=hw_of)
    if write:
        write_project(proj)
    return proj


def reuse_from_folding(graph) -> dict[str, int]:
    """{MVU name: reuse factor} of a HwGraph: the cycles one output vector takes with its folding,
    (MH / PE) * (MW / SIMD), which is what hls4ml's reuse factor counts. A K^T unit shares its K's
    memory and is not listed (hls4ml's stable block is named by K)."""
    from hwkit.ir.graph import MVU

    return {p.name: max(1, -(-p.mh // p.folding.pe) * -(-p.mw // p.folding.simd))
            for p in graph.layers if isinstance(p, MVU) and not p.transposed_of}


def _source_hash(out_dir: Path, stamp: str) -> str:
    h = hashlib.sha256()
    import hls4ml

    h.update(f"hls4ml {hls4ml.__version__}\n".encode())
    files = [p for p in sorted(out_dir.rglob("*")) if p.is_file() and "ap_types" not in p.parts
             and p.suffix in (".h", ".hpp", ".cpp", ".txt", ".sh")]
    for p in files:
        data = p.read_bytes().replace(stamp.encode(), b"STAMP")
        h.update(str(p.relative_to(out_dir)).encode() + b"\0" + data + b"\0")
    return h.hexdigest()


_TCL_SET = re.compile(r'(?m)^set (\w+) .*$')


def quote_project_tcl(path: Path, values: dict) -> None:
    """hls4ml 1.3.0 writes ``set part "{part}"`` unescaped: a part (or project name) holding ``"; exec ...``
    would run as Tcl in vitis_hls. Rewrite those ``set`` lines with :func:`hwkit.names.tcl_quote`."""
    if not path.is_file():
        return
    text = path.read_text()

    def fix(m):
        name = m.group(1)
        return f"set {name} {tcl_quote(values[name])}" if name in values else m.group(0)

    path.write_text(_TCL_SET.sub(fix, text))


def write_project(proj: Hls4mlProject) -> str:
    """Write the project; pin the library stamp to the sources' content hash (deterministic files)."""
    hm = proj.model
    with contextlib.redirect_stdout(io.StringIO()):
        hm.write()
    old = hm.config.get_config_value("Stamp")
    digest = _source_hash(proj.out_dir, old)
    stamp = digest[:16]
    for p in sorted(proj.out_dir.rglob("*")):
        if p.is_file() and "ap_types" not in p.parts and p.suffix in (".sh", ".tcl", ".yml", ".cpp", ".h", ".json"):
            data = p.read_bytes()
            if old.encode() in data:
                p.write_bytes(data.replace(old.encode(), stamp.encode()))
    hm.config.config["Stamp"] = stamp
    proj.stamp = stamp
    quote_project_tcl(proj.out_dir / "project.tcl", {
        "project_name": hm.config.get_project_name(), "part": hm.config.get_config_value("Part"),
        "version": hm.config.get_config_value("Version", "1.0.0")})
    # hls4ml records the absolute output path; builds move projects (partial -> final directory), and
    # an absolute path would make the same model give different files: the project is its own root
    cfg = proj.out_dir / "hls4ml_config.yml"
    if cfg.is_file():
        text = re.sub(r"(?m)^OutputDir: .*$", "OutputDir: .", cfg.read_text())
        # hls4ml's random stamp was quoted by YAML when it read as a number ('12345678'): the line is
        # written here, always quoted, so the file depends on the content hash alone
        cfg.write_text(re.sub(r"(?m)^Stamp: .*$", f"Stamp: '{stamp}'", text))
    return stamp


def compile_project(proj: Hls4mlProject) -> Hls4mlProject:
    """g++ C emulation of the project, reusing a library compiled earlier from identical sources.

    The cache entry is a directory named by the sources' hash holding the library and the weight
    text files it reads at run time (hls4ml's C simulation loads weights from WEIGHTS_DIR instead of
    compiling them in, which keeps g++ fast); the library is compiled to read them from there, so an
    entry stays valid whatever project directory produced it."""
    import time

    from hwkit.tools.base import find_tool, run_tool

    if proj._fn is not None:
        return proj
    if proj.stamp is None:
        write_project(proj)
    entry = cache_dir() / f"{proj.name}-{proj.stamp}"
    lib = entry / f"{proj.name}-{proj.stamp}.so"
    t0 = time.monotonic()
    proj.cached = lib.is_file()
    if not proj.cached:
        gxx = find_tool("g++", "apt-get install g++")
        tmp = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(proj.out_dir / "firmware" / "weights", tmp / "weights")
        flags = ["-O3", "-fPIC", "-std=c++17", "-fno-gnu-unique", "-Ifirmware/ap_types/",
                 f'-DWEIGHTS_DIR="{entry / "weights"}"']
        log = proj.out_dir / "logs" / "csim_compile.log"
        for src in (f"firmware/{proj.name}.cpp", f"{proj.name}_bridge.cpp"):
            run_tool([gxx, *flags, "-c", src, "-o", str(tmp / (Path(src).stem + ".o"))], cwd=proj.out_dir,
                     log=log, timeout=3600, stage="hls4ml C-sim compile")
        run_tool([gxx, "-shared", str(tmp / f"{proj.name}.o"), str(tmp / f"{proj.name}_bridge.o"), "-o",
                  str(tmp / lib.name)], cwd=proj.out_dir, log=log, timeout=600, stage="hls4ml C-sim link")
        for o in tmp.glob("*.o"):
            o.unlink()
        try:
            os.replace(tmp, entry)  # atomic: a half-written entry is never seen as cached
        except OSError:  # another process finished the same entry first
            shutil.rmtree(tmp, ignore_errors=True)
    proj.compile_seconds = time.monotonic() - t0
    handle = ctypes.cdll.LoadLibrary(str(lib))
    proj.model._top_function_lib = handle  # hls4ml's own predict() works too
    fn = getattr(handle, f"{proj.name}_double")
    fn.restype = None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    proj._fn = fn
    return proj
