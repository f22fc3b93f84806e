"""Checkpoints: ``{"config": <plain dict>, "state_dict": ...}``. A model rebuilds through the zoo, so
loading runs no pickled code (``torch.load(weights_only=True)``). Training writes them, export reads
them: both import this module, neither imports the other's."""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from hwkit.errors import ConfigError
from hwkit.zoo import build_model


def build_from_config(cfg: dict, bits: tuple[int, int] | None = None) -> nn.Module:
    wbits, abits = bits or (cfg["wbits"], cfg["abits"])
    return build_model(cfg["model"], wbits, abits, cfg["ibits"], tuple(cfg["in_shape"]),
                       cfg["num_classes"], cfg["preset"], arch=cfg.get("arch") or None)


def save_checkpoint(model: nn.Module, cfg: dict, path: Path) -> Path:
    """Atomic save: a temporary file renamed into place, so a crash leaves no partial checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    os.close(fd)
    try:
        torch.save({"config": cfg, "state_dict": model.state_dict()}, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is a shareable artefact
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_checkpoint(path: Path) -> tuple[nn.Module, dict]:
    """Rebuild a model from a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        cfg, state = blob["config"], blob["state_dict"]
    except FileNotFoundError:
        raise ConfigError(f"checkpoint '{path}' does not exist") from None
    except Exception as err:
        raise ConfigError(f"checkpoint '{path}' is not a readable hwkit checkpoint "
                          f"({type(err).__name__})") from None
    if not isinstance(cfg, dict) or not isinstance(state, dict):
        raise ConfigError(f"checkpoint '{path}' is not a readable hwkit checkpoint (config or state is not a mapping)")
    missing = [k for k in ("model", "wbits", "abits", "ibits", "in_shape", "num_classes", "preset") if k not in cfg]
    if missing:
        raise ConfigError(f"checkpoint '{path}' config lacks {', '.join(missing)}: not written by hwkit train")
    try:
        model = build_from_config(cfg)
    except ConfigError as err:
        raise ConfigError(f"checkpoint '{path}': {err}") from None
    except Exception as err:  # noqa: BLE001 - shapes or counts of the wrong type in the file
        raise ConfigError(f"checkpoint '{path}' config cannot rebuild a model ({type(err).__name__}: "
                          f"{str(err)[:120]})") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.load_state_dict(state)
        except Exception as err:  # noqa: BLE001 - missing/extra/mis-shaped tensors
            raise ConfigError(f"checkpoint '{path}' weights do not match its model ({type(err).__name__}: "
                              f"{' '.join(str(err).split())[:200]})") from None
    return model.eval(), cfg
