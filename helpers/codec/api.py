"""Python API of the learned codec: ``compress(image) -> bytes`` and ``decompress(bytes) -> image``."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import checkpoints
from ..data import load_image, to_pil, to_tensor
from ..models import Codec, GenerativeCodec
from . import format as fmt

__all__ = ["DEFAULT_MODEL", "GenerativeFamily", "LearnedCodecFamily", "compress", "decompress", "list_models",
           "load_model"]


#: What :func:`compress` and ``nic encode`` use when no model is named: a middle rate of the stronger family.
DEFAULT_MODEL = "factorized-q3"


def list_models() -> list[str]:
    """Names of the shipped checkpoints (one model and rate point each), e.g. ``factorized-q3``."""
    return checkpoints.available()


@functools.lru_cache(maxsize=16)
def load_model(name: str) -> Codec:
    """A shipped checkpoint by name (or a checkpoint file path), loaded once and cached, in eval mode on the CPU."""
    return checkpoints.load(name)


def _model(model: str | Codec | None) -> Codec:
    if isinstance(model, Codec):
        return model
    if model is None:
        names = list_models()
        if not names:
            raise FileNotFoundError("no shipped models: train them with `python -m helpers.train --plan shipped`")
        model = DEFAULT_MODEL if DEFAULT_MODEL in names else names[len(names) // 2]
    return load_model(str(model))


def _image(image) -> torch.Tensor:
    if isinstance(image, (str, os.PathLike)):
        return load_image(image)
    if isinstance(image, torch.Tensor) and image.ndim == 3 and image.shape[0] == 3 and image.is_floating_point():
        return image
    return to_tensor(image)


def compress(image, model: str | Codec | None = None, **options) -> bytes:
    """Any image (path, PIL, array, ``(3, H, W)`` tensor; converted by :func:`helpers.data.to_tensor`) -> bytes.
    ``options`` go to the model's ``compress`` (the generative codec takes ``bits``)."""
    codec = _model(model)  # a bad model name fails before any image work
    if options and not isinstance(codec, GenerativeCodec):
        raise ValueError(f"{codec.name} ({type(codec).__name__}) takes no options, got {sorted(options)}")
    return codec.compress(_image(image), **options)


def decompress(data: bytes, model: str | Codec | None = None,
               max_pixels: int | None = fmt.MAX_PIXELS) -> torch.Tensor:
    """Bytes of a ``.nic`` file -> ``(3, H, W)`` in [0, 1]; the checkpoint named in the file unless ``model`` is given."""
    header, _ = fmt.unpack(data)
    if model is None:
        try:
            model = load_model(header.name)
        except FileNotFoundError as err:
            raise fmt.FormatError(f"file needs checkpoint {header.name!r}, which is not available here") from err
    return _model(model).decompress(data, max_pixels=max_pixels)


def encode_file(src: str | os.PathLike, dst: str | os.PathLike, model: str | None = None, **options) -> int:
    data = compress(src, model, **options)
    Path(dst).write_bytes(data)
    return len(data)


def decode_file(src: str | os.PathLike, dst: str | os.PathLike, model: str | None = None) -> tuple[int, int]:
    x_hat = decompress(Path(src).read_bytes(), model)
    to_pil(x_hat).save(dst, format="PNG")
    return tuple(x_hat.shape[-2:])


@dataclass
class LearnedCodecFamily:
    """Shipped checkpoints of one architecture as one codec for :func:`helpers.codecs.rd_sweep`: the setting is
    the checkpoint name."""

    name: str
    settings: Sequence[str]

    @property
    def checkpoints(self) -> tuple[str, ...]:
        """The checkpoint names or paths behind this family."""
        return tuple(self.settings)

    def compress(self, x: torch.Tensor, setting: str) -> bytes:
        return load_model(setting).compress(x)

    def decompress(self, data: bytes) -> torch.Tensor:
        header, _ = fmt.unpack(data)
        for setting in self.settings:  # the family's own checkpoints first: they may be files, not shipped names
            model = load_model(setting)
            if model.name == header.name:
                return model.decompress(data)
        return decompress(data)

    @classmethod
    def group(cls, names) -> list[LearnedCodecFamily | GenerativeFamily]:
        """Checkpoint names or paths as families, by what precedes the last ``-`` (``cae-q1`` -> ``cae``); a
        generative checkpoint is a family of its own (:class:`GenerativeFamily`). Each is loaded first, so a bad
        name fails before any work."""
        groups: dict[str, list[str]] = {}
        generative = []
        for n in names:
            if isinstance(load_model(str(n)), GenerativeCodec):
                generative.append(GenerativeFamily(Path(n).stem, str(n)))
            else:
                groups.setdefault(Path(n).stem.rsplit("-", 1)[0], []).append(str(n))
        return [cls(family, tuple(members)) for family, members in groups.items()] + generative

    @classmethod
    def shipped(cls) -> list[LearnedCodecFamily]:
        """The shipped rate points of the codecs with a learned prior (one family per architecture)."""
        return [f for f in cls.group(list_models()) if isinstance(f, cls)]


@dataclass
class GenerativeFamily:
    """One generative checkpoint as a codec for :func:`helpers.codecs.rd_sweep`: the setting is the number of
    bits per latent dimension."""

    name: str
    model: str | Codec  # a checkpoint name or path, or a loaded GenerativeCodec
    settings: Sequence[int] = (1, 2, 3, 4, 6)

    @property
    def checkpoints(self) -> tuple[str, ...]:
        return (self.model,) if isinstance(self.model, str) else ()

    def compress(self, x: torch.Tensor, setting: int) -> bytes:
        return _model(self.model).compress(x, bits=setting)

    def decompress(self, data: bytes) -> torch.Tensor:
        return _model(self.model).decompress(data)

    @classmethod
    def shipped(cls) -> list[GenerativeFamily]:
        return [f for f in LearnedCodecFamily.group(list_models()) if isinstance(f, cls)]
