"""Python API of the learned codec: ``compress(image) -> bytes`` and ``decompress(bytes) -> image``."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import torch

from .. import bitstream as fmt
from .. import checkpoints
from ..checkpoints import load_model
from ..images import load_image, to_pil, to_tensor
from ..models import Codec
from ..runtime import pick_device

__all__ = ["DEFAULT_MODEL", "compress", "decode_file", "decompress", "encode_file", "list_models", "load_model"]


#: What :func:`compress` and ``nic encode`` use when no model is named: a middle rate of the stronger family.
DEFAULT_MODEL = "factorized-q3"


def list_models() -> list[str]:
    """Names of the shipped checkpoints (one model and rate point each, e.g. ``factorized-q3``), then the built-in
    models, which need no checkpoint (``overfitted``: a network trained per image, its weights in the file)."""
    return checkpoints.available() + sorted(checkpoints.BUILTIN)


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
    """Bytes of a ``.nic`` file -> ``(3, H, W)`` in [0, 1].

    Without ``model`` the file's header names the checkpoint, and only a shipped one (:func:`list_models`) is
    looked up: a file never names a path, so a file cannot make the decoder load weights from elsewhere on the
    disk. A file of another checkpoint decodes with ``model`` given (a name, a path or a loaded model).
    """
    header, _ = fmt.unpack(data)
    if model is None:
        if header.name not in list_models():
            raise fmt.FormatError(
                f"the file names checkpoint {header.name[:60]!r}, which is not a shipped model; "
                "pass its checkpoint as model (nic decode --model PATH)"
            )
        model = header.name
    return _model(model).decompress(data, max_pixels=max_pixels)  # Codec.decompress: one guard, never NaN


def _write_atomically(dst: Path, write) -> None:
    """``write(path)`` to a temporary file beside ``dst``, then rename it: ``dst`` is either whole or untouched."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.part")
    try:
        write(tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _check_paths(src: Path, dst: Path) -> None:
    if dst.resolve() == src.resolve() or (src.exists() and dst.exists() and os.path.samefile(src, dst)):
        raise ValueError(f"{dst}: the output would overwrite the input")
    if dst.is_dir():
        raise ValueError(f"{dst} is a folder; name the output file")


def encode_file(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    model: str | None = None,
    max_pixels: int | None = None,
    device: str = "cpu",
    **options,
) -> int:
    """Image file -> ``.nic`` file; written whole or not at all, never over the input. ``device`` is where a model
    that trains while it encodes (``overfitted``) does so; the file decodes the same on any device."""
    src, dst = Path(src), Path(dst)
    _check_paths(src, dst)
    codec = _model(model)
    codec.check_options(options)
    if device != "cpu":
        codec = copy.deepcopy(codec).to(pick_device(device))
    data = codec.compress(load_image(src, max_pixels=max_pixels), **options)
    _write_atomically(dst, lambda p: p.write_bytes(data))
    return len(data)


def decode_file(
    src: str | os.PathLike, dst: str | os.PathLike, model: str | None = None, max_pixels: int | None = fmt.MAX_PIXELS
) -> tuple[int, int]:
    """``.nic`` file -> PNG file (the output must be named ``.png``); written whole or not at all."""
    src, dst = Path(src), Path(dst)
    _check_paths(src, dst)
    if dst.suffix.lower() != ".png":
        raise ValueError(f"{dst}: nic decode writes PNG (lossless); name the output .png")
    x_hat = decompress(src.read_bytes(), model, max_pixels=max_pixels)
    _write_atomically(dst, lambda p: to_pil(x_hat).save(p, format="PNG"))
    return tuple(x_hat.shape[-2:])
