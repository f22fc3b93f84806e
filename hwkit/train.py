"""Quantization-aware training on bundled datasets, with deterministic seeds and checkpoints.

A checkpoint is ``{"config": <plain dict>, "state_dict": ...}``: it rebuilds through the zoo, so
loading needs no pickled code and works with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import json
import random
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwkit.checkpoint import build_from_config, load_checkpoint, save_checkpoint  # noqa: F401 (re-exported)
from hwkit.data import load_dataset
from hwkit.errors import ConfigError
from hwkit.zoo import build_model, layer_widths
from hwkit.zoo.stability import enforce as enforce_stability


@dataclass
class TrainConfig:
    model: str = "tfc"
    dataset: str = "digits"
    wbits: int | list = 2  # one width, or one per weight layer (hwkit.zoo.layer_widths)
    abits: int | list = 2  # one width, or one per activation layer
    ibits: int = 8
    preset: str = "pot"
    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.01
    anneal_every: int = 0  # >0: start at 8 bits, drop one bit every N epochs down to the target
    seed: int = 0
    arch: dict = field(default_factory=dict)  # stable/residual architecture keywords (hwkit.zoo.build_model)
    stability_bound: float = 0.0  # >0: keep h*||K||^2*max s' <= bound in symmetric blocks (hwkit.zoo.stability)


def check_config(cfg: TrainConfig) -> None:
    """Numbers a user can mistype, checked before any data is loaded: one ConfigError naming the field."""
    def whole(name, lo, hi):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ConfigError(f"training {name} must be an integer in {lo}..{hi}, got {v!r}")

    whole("epochs", 0, 100_000)
    whole("batch_size", 1, 1 << 20)
    whole("anneal_every", 0, 100_000)
    whole("seed", 0, 2**32 - 1)
    whole("ibits", 1, 16)
    for name in ("wbits", "abits"):  # a list is recorded as a plain list (weights_only checkpoints)
        if isinstance(getattr(cfg, name), tuple):
            setattr(cfg, name, list(getattr(cfg, name)))
    layer_widths(cfg.model, cfg.wbits, cfg.abits)
    if isinstance(cfg.lr, bool) or not isinstance(cfg.lr, (int, float)) or not (np.isfinite(cfg.lr) and cfg.lr > 0):
        raise ConfigError(f"training lr must be a finite number > 0, got {cfg.lr!r}")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def bit_schedule(cfg: TrainConfig) -> list[tuple[int, int]]:
    """(wbits, abits) per epoch. Annealing starts wide and narrows one bit every N epochs, the way
    the stable-network paper trains; 1-bit targets anneal down to 2 bits, then jump to binary."""
    if cfg.anneal_every <= 0:
        return [(cfg.wbits, cfg.abits)] * cfg.epochs

    def at_least(bits, floor):  # per-layer lists anneal each layer towards its own target
        return [max(b, floor) for b in bits] if isinstance(bits, (list, tuple)) else max(bits, floor)

    sched = []
    for epoch in range(cfg.epochs):
        drop = epoch // cfg.anneal_every
        sched.append((at_least(cfg.wbits, 8 - drop), at_least(cfg.abits, 8 - drop)))
    return sched


def bits_label(wbits, abits) -> str:
    """'W2A2', or per layer 'W2-4-2-8A4-4-2'."""
    def one(b):
        return "-".join(map(str, b)) if isinstance(b, (list, tuple)) else str(b)

    return f"W{one(wbits)}A{one(abits)}"


@torch.no_grad()
def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 512) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        logits = model(torch.from_numpy(x[i:i + batch]))
        correct += int((logits.argmax(1).numpy() == y[i:i + batch]).sum())
    return correct / len(x)


def train(cfg: TrainConfig, progress: bool = True) -> tuple[nn.Module, dict, dict]:
    """Train ``cfg.model`` on ``cfg.dataset``. Returns (model, checkpoint config, metrics)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    check_config(cfg)
    if cfg.model == "jet":
        raise ConfigError("the jet tagger expects 16 jet features; no bundled dataset has them "
                          "(build it with hwkit.zoo.build_model('jet') for hardware studies)")
    seed_everything(cfg.seed)
    data = load_dataset(cfg.dataset)
    ckpt_cfg = {**asdict(cfg), "in_shape": list(data.in_shape), "num_classes": data.num_classes}
    schedule = bit_schedule(cfg)
    model = build_from_config(ckpt_cfg, schedule[0] if schedule else None)
    gen = torch.Generator().manual_seed(cfg.seed)
    x_train, y_train = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    loss_fn = nn.CrossEntropyLoss()
    start = time.monotonic()
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
               TimeElapsedColumn()]
    with warnings.catch_warnings(), Progress(*columns, disable=not progress, transient=False) as bar:
        warnings.simplefilter("ignore")
        task = bar.add_task(f"train {cfg.model} on {cfg.dataset}", total=cfg.epochs, info="")
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        current = schedule[0] if schedule else None
        for epoch, bits in enumerate(schedule):
            if bits != current:  # narrower quantizers, same learned weights and scales
                state = model.state_dict()
                model = build_from_config(ckpt_cfg, bits)
                model.load_state_dict(state, strict=False)
                opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
                current = bits
            lr = cfg.lr * 0.5 * (1 + np.cos(np.pi * epoch / max(1, cfg.epochs)))
            for group in opt.param_groups:
                group["lr"] = lr
            model.train()
            order = torch.randperm(len(x_train), generator=gen)
            total = 0.0
            for i in range(0, len(order), cfg.batch_size):
                idx = order[i:i + cfg.batch_size]
                opt.zero_grad()
                loss = loss_fn(model(x_train[idx]), y_train[idx])
                loss.backward()
                opt.step()
                if cfg.stability_bound > 0:
                    enforce_stability(model, cfg.stability_bound)
                total += float(loss) * len(idx)
            bar.update(task, advance=1, info=f"{bits_label(*bits)} loss {total / len(order):.3f}")
        if cfg.stability_bound > 0:  # the bound must hold for the weights hardware will use
            enforce_stability(model, cfg.stability_bound, quantized=True, iters=100)
        seconds = time.monotonic() - start
        test_acc = evaluate(model, data.x_test, data.y_test)
        train_acc = evaluate(model, data.x_train, data.y_train)
    metrics = {"test_accuracy": test_acc, "train_accuracy": train_acc, "train_seconds": round(seconds, 2),
               "test_samples": int(len(data.x_test))}
    return model.eval(), ckpt_cfg, metrics


def train_and_save(cfg: TrainConfig, out: Path, progress: bool = True) -> dict:
    """Train, save checkpoint + QONNX + metrics JSON side by side; return the metrics."""
    from hwkit.export import export_qonnx

    out = Path(out)
    if out.suffix != ".pt":
        raise ConfigError(f"checkpoint path must end in .pt, got '{out}'")
    model, ckpt_cfg, metrics = train(cfg, progress=progress)
    save_checkpoint(model, ckpt_cfg, out)
    onnx_path = out.with_suffix(".onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(model, tuple(ckpt_cfg["in_shape"]), onnx_path, batch_size=1)
    result = {**metrics, "config": ckpt_cfg, "checkpoint": str(out), "qonnx": str(onnx_path)}
    out.with_suffix(".json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result
