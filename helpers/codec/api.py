"""Python API of the learned codec: ``compress(image) -> bytes`` and ``decompress(bytes) -> image``."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .. import bitstream as fmt
from .. import checkpoints
from ..checkpoints import load_model
from ..images import load_image, to_pil, to_tensor
from ..models import Codec

__all__ = ["DEFAULT_MODEL", "compress", "decode_file", "decompress", "encode_file", "list_models", "load_model"]


#: What :func:`compress` and ``nic encode`` use when no model is named: a middle rate of the stronger family.
DEFAULT_MODEL = "factorized-q3"


def list_models() -> list[str]:
    """Names of the shipped checkpoints (one model and rate point each), e.g. ``factorized-q3``."""
    return checkpoints.available()


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
    """Any image (path, PIL, array, ``(3, H, W)`` tensor; converted by :func:`helpers.images.to_tensor`) -> bytes.
    ``options`` are the model's declared ones (``Codec.options``: the generative codec takes ``bits``), checked
    before any image work."""
    codec = _model(model)  # a bad model name fails before any image work
    codec.check_options(options)
    return codec.compress(_image(image), **options)


def decompress(data: bytes, model: str | Codec | None = None, max_pixels: int | None = fmt.MAX_PIXELS) -> torch.Tensor:
    """Bytes of a ``.nic`` file -> ``(3, H, W)`` in [0, 1]; the checkpoint named in the file unless ``model`` is
    given."""
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
