"""Checkpoints that carry their own configuration, loaded with ``torch.load(weights_only=True)``.

A shipped checkpoint is a dict::

    {"format": "nic-checkpoint", "version": 1, "architecture": "FactorizedPrior", "name": "factorized-q3",
     "config": {...constructor arguments...}, "state_dict": {...}, "meta": {data, steps, lambda, command, ...}}

Large weight tensors are stored in float16 (halving the size; the decoder loads the same rounded weights as the
encoder, so files stay decodable) and cast back to float32 on load. Nothing is inferred from weight names.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .models import ARCHITECTURES, Codec

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BUILTIN", "CHECKPOINT_DIR", "CheckpointError", "available", "budget", "export", "load"]

FORMAT, VERSION = "nic-checkpoint", 1
CHECKPOINT_DIR = Path(__file__).resolve().parent / "weights"
#: Models that need no checkpoint file, by name: each file they write carries its own weights.
BUILTIN = {"overfitted": "OverfittedCodec"}


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint for this version of the package."""


def _compact(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.half() if v.is_floating_point() and v.numel() >= 1024 else v.clone()) for k, v in state.items()}


def export(model: Codec, path: str | os.PathLike, name: str, meta: dict) -> Path:
    """Write a shipped checkpoint of ``model`` (weights only, float16 where large)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": type(model).__name__,
        "name": name,
        "config": dict(model.config),
        "state_dict": _compact(model.state_dict()),
        "meta": dict(meta),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(ckpt, tmp)
    # the coding tables of the weights as stored (float16 where large), frozen into the file: every decoder then
    # codes with these integers, whatever its torch version or CPU computes from the weights
    tables = load(tmp).tables_state()
    if tables is not None:
        ckpt["tables"] = tables
        torch.save(ckpt, tmp)
    tmp.replace(path)
    return path


def load(path_or_name: str | os.PathLike, device: str | torch.device = "cpu") -> Codec:
    """A model rebuilt from a checkpoint file, or from a shipped checkpoint's name (see :func:`available`), or a
    built-in model by name (:data:`BUILTIN`)."""
    if str(path_or_name) in BUILTIN and not Path(path_or_name).exists():
        model = ARCHITECTURES[BUILTIN[str(path_or_name)]]()
        model.name = str(path_or_name)
        return model.to(device).eval()
    path = Path(path_or_name)
    if not path.exists() and (CHECKPOINT_DIR / f"{path_or_name}.pt").exists():
        path = CHECKPOINT_DIR / f"{path_or_name}.pt"
    if not path.is_file():
        names = ", ".join(available()) or "none shipped"
        raise FileNotFoundError(f"no checkpoint {path_or_name!r} (shipped: {names})")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors, zip errors, unsafe globals: all mean "not our checkpoint"
        raise CheckpointError(f"{path} is not a loadable checkpoint: {err}") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a nic-book checkpoint (a training state? use helpers.train)")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {ckpt.get('version')}; this package reads {VERSION}")
    arch = ARCHITECTURES.get(ckpt.get("architecture")) if isinstance(ckpt.get("architecture"), str) else None
    if arch is None:
        raise CheckpointError(f"{path} holds an unknown architecture {str(ckpt.get('architecture'))[:60]!r}")
    name, state, config, meta = ckpt.get("name"), ckpt.get("state_dict"), ckpt.get("config"), ckpt.get("meta", {})
    if not (isinstance(name, str) and 0 < len(name) < 256 and name.isascii() and name.isprintable()):
        raise CheckpointError(f"{path} has no usable name (a printable ASCII string of 1-255 characters)")
    if not (
        isinstance(state, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())
    ):
        raise CheckpointError(f"{path}: its state_dict is not a mapping of names to tensors")
    if not (isinstance(config, dict) and isinstance(meta, dict)):
        raise CheckpointError(f"{path}: its config and meta must be mappings")
    try:
        model = arch(**ckpt["config"])
        state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
        model.load_state_dict(state)
        if ckpt.get("tables") is not None:
            model.load_tables_state(ckpt["tables"])
    except (TypeError, RuntimeError, KeyError, ValueError, AttributeError) as err:
        raise CheckpointError(f"{path} does not match {arch.__name__}{ckpt.get('config')}: {err}") from err
    model.name = name
    model.meta = meta
    return model.to(device).eval()


def available() -> list[str]:
    """Names of the checkpoints shipped inside the package, sorted."""
    return sorted(p.stem for p in CHECKPOINT_DIR.glob("*.pt"))


@functools.lru_cache(maxsize=16)
def load_model(name: str) -> Codec:
    """A shipped checkpoint by name (or a checkpoint file path), loaded once and cached, in eval mode on the CPU."""
    return load(name)


def budget(models) -> pd.DataFrame:
    """What each checkpoint cost: lambda, its own steps, the total steps and hours behind it (warm starts
    included), data and device, from the metadata. ``models``: names, paths or loaded models."""
    import pandas as pd

    rows = []
    for m in models:
        m = m if isinstance(m, Codec) else load(m)
        meta = getattr(m, "meta", {})
        seconds = meta.get("total_train_seconds", meta.get("train_seconds"))
        rows.append(
            {
                "model": m.name,
                "lambda": meta.get("lambda"),
                "steps": meta.get("steps"),
                "total steps": meta.get("total_steps", meta.get("steps")),
                "train hours": None if seconds is None else seconds / 3600,
                "data": None if meta.get("data") is None else str(meta["data"]).replace(",", ", "),
                "device": meta.get("device"),
            }
        )
    return pd.DataFrame(rows).set_index("model")
