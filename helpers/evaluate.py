"""Measuring codecs: the one interface every codec presents to a measurement, the sweep that measures them on
real bytes, and the adapter that turns learned checkpoints into such codecs.

A codec here is anything with a ``name``, default ``settings`` (lowest rate first), ``compress(x, setting) ->
bytes`` and ``decompress(bytes) -> x`` (:class:`ImageCodec`): the classical codecs of :mod:`helpers.classical` as
they are, and the learned models through :class:`LearnedFamily`, whose setting is a checkpoint (one rate point
each) or the value of a model's compress option (the generative codec's bits per latent number).
:func:`rd_sweep` codes every image at every setting and returns one row per file; :mod:`helpers.rd` turns the
rows into curves and BD-rates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd
import torch

from . import bitstream, checkpoints
from .metrics import evaluate
from .models import Codec
from .runtime import progress

__all__ = ["ImageCodec", "LearnedFamily", "encode_decode", "rd_sweep", "saved_rows", "synthesis_macs_per_pixel"]


class ImageCodec(Protocol):
    """What :func:`rd_sweep` needs of a codec: classical and learned codecs alike."""

    name: str
    settings: Sequence  # default sweep, from lowest to highest rate

    def compress(self, x: torch.Tensor, setting) -> bytes: ...

    def decompress(self, data: bytes) -> torch.Tensor: ...


def rd_sweep(
    images: Mapping[str, torch.Tensor],
    codecs: Sequence[ImageCodec],
    settings: Mapping[str, Sequence] | None = None,
    quick: bool = False,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Encode every image with every codec at every setting; one row per file.

    Columns: ``codec, setting, image, bytes, bpp, psnr, ssim, ms_ssim, mse, encode_s, decode_s``. ``settings``
    overrides a codec's default sweep by name; ``quick`` takes each codec's shorter ``quick_settings``.
    """
    settings = dict(settings or {})
    jobs = []
    for codec in codecs:
        s = settings.get(codec.name)
        if s is None:
            s = getattr(codec, "quick_settings", None) if quick else None
            s = s or codec.settings
        jobs += [(codec, setting, name) for setting in s for name in images]
    rows = []
    for codec, setting, name in progress(jobs, desc="rd sweep", disable=not show_progress):
        x = images[name]
        t0 = time.perf_counter()
        data = codec.compress(x, setting)
        t1 = time.perf_counter()
        x_hat = codec.decompress(data)
        t2 = time.perf_counter()
        if x_hat.shape != x.shape:
            raise RuntimeError(f"{codec.name} decoded {tuple(x_hat.shape)} from a {tuple(x.shape)} image")
        rows.append(
            {
                "codec": codec.name,
                "setting": setting,
                "image": name,
                **evaluate(x, x_hat, num_bytes=len(data)),
                "encode_s": t1 - t0,
                "decode_s": t2 - t1,
            }
        )
    return pd.DataFrame(rows)


def encode_decode(x: torch.Tensor, codec: ImageCodec, setting) -> tuple[bytes, torch.Tensor]:
    """One round trip: the file's bytes and the decoded image."""
    data = codec.compress(x, setting)
    return data, codec.decompress(data)


@dataclass
class LearnedFamily:
    """Learned checkpoints as one :class:`ImageCodec`.

    Two kinds of setting: with ``option`` unset, each setting is a checkpoint (a shipped name or a path), the rate
    points of one architecture; with ``option`` set, each setting is a value of that compress option of the one
    checkpoint ``model`` (the generative codec's ``bits``). :meth:`group` builds the right kind from a model's
    declared :attr:`~helpers.models.Codec.sweep`.
    """

    name: str
    settings: Sequence
    model: str | Codec | None = None
    option: str | None = None

    @property
    def checkpoints(self) -> tuple[str, ...]:
        """The checkpoint names or paths behind this family."""
        if self.option is None:
            return tuple(str(s) for s in self.settings)
        return (self.model,) if isinstance(self.model, str) else ()

    def _codec(self, setting) -> tuple[Codec, dict]:
        if self.option is None:
            return checkpoints.load_model(str(setting)), {}
        model = self.model if isinstance(self.model, Codec) else checkpoints.load_model(str(self.model))
        return model, {self.option: setting}

    def compress(self, x: torch.Tensor, setting) -> bytes:
        codec, options = self._codec(setting)
        return codec.compress(x, **options)

    def decompress(self, data: bytes) -> torch.Tensor:
        header, _ = bitstream.unpack(data)
        candidates = list(self.settings) if self.option is None else [self.model]
        for candidate in candidates:  # the family's own checkpoints: they may be files, not shipped names
            model = candidate if isinstance(candidate, Codec) else checkpoints.load_model(str(candidate))
            if model.name == header.name:
                return model.decompress(data)
        raise bitstream.FormatError(f"file needs checkpoint {header.name!r}, which is not in family {self.name!r}")

    @classmethod
    def group(cls, names) -> list[LearnedFamily]:
        """Checkpoint names or paths as families. A model that declares a ``sweep`` (an option and its values) is
        a family of its own over that option; the others group by what precedes the last ``-`` of their name
        (``cae-q1`` -> ``cae``). Each is loaded first, so a bad name fails before any work."""
        groups: dict[str, list[str]] = {}
        swept = []
        for n in names:
            model = checkpoints.load_model(str(n))
            if model.sweep is not None:
                option, values = model.sweep
                swept.append(cls(Path(str(n)).stem, tuple(values), model=str(n), option=option))
            else:
                groups.setdefault(Path(str(n)).stem.rsplit("-", 1)[0], []).append(str(n))
        return [cls(family, tuple(members)) for family, members in groups.items()] + swept

    @classmethod
    def shipped(cls, swept: bool | None = None) -> list[LearnedFamily]:
        """The shipped checkpoints as families; ``swept=False``: only the rate-point families (the models with a
        learned prior), ``True``: only the option-swept ones (the generative codec), ``None``: all."""
        families = cls.group(checkpoints.available())
        return [f for f in families if swept is None or (f.option is not None) == swept]


def synthesis_macs_per_pixel(model: Codec, height: int = 256, width: int = 256) -> float:
    """Multiply-accumulates per output pixel of a learned codec's decoder transform (its ``synthesis``), counted
    by running it once on a latent of a ``height x width`` image: convolutions, transposed convolutions, linear
    layers and GDN (a 1x1 convolution over channels) are counted; activations and additions are not."""
    import torch.nn as nn

    from .models.layers import GDN

    total = 0

    def hook(module, inputs, output):
        nonlocal total
        x = inputs[0]
        if isinstance(module, nn.ConvTranspose2d):
            total += x.numel() * module.out_channels // module.groups * math.prod(module.kernel_size)
        elif isinstance(module, nn.Conv2d):
            total += output.numel() * module.in_channels // module.groups * math.prod(module.kernel_size)
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features
        elif isinstance(module, GDN):
            total += x.numel() * x.shape[1]

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, GDN))
    ]
    try:
        stride = model.stride
        y = torch.zeros(1, model.latent_channels, -(-height // stride), -(-width // stride))
        with torch.no_grad():
            model.synthesis(y.to(model._device()))
    finally:
        for h in handles:
            h.remove()
    return total / (height * width)


def saved_rows(folder: str | Path, pattern: str = "*.json") -> pd.DataFrame:
    """Rows saved one file each (a JSON object per measurement, as ``benchmarks/overfitted.py`` writes them), as
    one table; empty when there are none. Image names stay strings."""
    import json

    found = [json.loads(p.read_text()) for p in sorted(Path(folder).glob(pattern))]
    frame = pd.DataFrame(found)
    if "image" in frame:
        frame["image"] = frame["image"].astype(str)
    return frame
