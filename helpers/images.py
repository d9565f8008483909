"""One image: files and arrays in, tensors out, and back; padding to a stride and cropping back.

Every image in this package is a ``float32`` tensor of shape ``(3, H, W)`` with values in ``[0, 1]`` (a batch
adds a leading ``B``). :func:`to_tensor` is the one door into that form, and it states its rule for every
input it accepts:

========================  ==================================================================================
input                     rule
========================  ==================================================================================
RGB, 8 bit                divided by 255
grayscale (L, 1, (H,W))   replicated to three channels
palette (P, PA)           expanded through the palette (transparency kept, then treated as alpha)
with alpha (LA, RGBA)     composited over a white background, the way a browser shows it
16 bit (I;16, uint16)     divided by 65535, so no precision is lost before the float conversion
32 bit integer (I)        treated as 16-bit data (what PNG and TIFF decoders produce), clipped to 65535
float (F, float arrays)   must already lie in [0, 1]; anything else is refused
CMYK, YCbCr, LAB, HSV     converted to RGB by Pillow
========================  ==================================================================================

Sizes are never changed silently: :func:`pad_to_multiple` / :func:`crop` are the documented way to feed odd sizes
to a network with a fixed stride. Image *sets* (the embedded photos, folders, downloads, training patches) are
:mod:`helpers.datasets`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["IMAGE_EXTENSIONS", "crop", "load_image", "pad_to_multiple", "to_pil", "to_tensor", "to_uint8"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")


# --------------------------------------------------------------------------------------------------------------
# Conversion: the one rule for every input
# --------------------------------------------------------------------------------------------------------------

_WHITE = 1.0


def _composite(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return rgb * alpha + _WHITE * (1.0 - alpha)


def _array_to_unit(a: np.ndarray) -> np.ndarray:
    """Integer or float array -> float64 in [0, 1] by the rule in the module docstring."""
    if a.size == 0:
        raise ValueError(f"empty image (shape {a.shape})")
    if a.dtype == np.bool_:
        return a.astype(np.float64)
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float64) / 65535.0
    if a.dtype in (np.int32, np.uint32, np.int64):
        if a.min() < 0:
            raise ValueError(f"integer image with negative values (min {a.min()}): not a photo")
        return np.minimum(a, 65535).astype(np.float64) / 65535.0
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError("float image must lie in [0, 1], but it holds NaN or infinite values")
        lo, hi = float(a.min()), float(a.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ValueError(
                f"float image must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; "
                "scale it first (for example divide 8-bit data by 255)"
            )
        return np.clip(a.astype(np.float64), 0.0, 1.0)
    raise ValueError(f"unsupported image dtype {a.dtype}")


def _channels_last_to_rgb(a: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, C) float array with C in 1..4 -> (H, W, 3)."""
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"expected an image of shape (H, W) or (H, W, C) with C in 1..4, got {a.shape}")
    c = a.shape[2]
    if c == 1:
        return np.repeat(a, 3, axis=2)
    if c == 2:  # gray + alpha
        return np.repeat(_composite(a[..., :1], a[..., 1:]), 3, axis=2)
    if c == 4:
        return _composite(a[..., :3], a[..., 3:])
    return a


def _pil_to_array(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("P", "PA"):
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode == "1":
        return np.asarray(img, dtype=np.bool_)
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(img)
    if mode in ("La", "RGBa"):  # premultiplied alpha: undo, then treat as straight alpha
        return np.asarray(img.convert("RGBA" if mode == "RGBa" else "LA"))
    if mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16)
    if mode == "I":
        return np.asarray(img).astype(np.int64)
    if mode == "F":
        return np.asarray(img)
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(img.convert("RGB"))
    raise ValueError(f"unsupported Pillow image mode {mode!r}")


def to_tensor(image) -> torch.Tensor:
    """Any supported image (PIL, numpy ``(H,W[,C])``, torch ``([C,]H,W)``) -> float32 ``(3, H, W)`` in [0, 1]."""
    if isinstance(image, Image.Image):
        a = _pil_to_array(image)
    elif isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.ndim == 3 and t.shape[0] in (1, 2, 3, 4):
            t = t.permute(1, 2, 0)
        elif t.ndim != 2:
            raise ValueError(f"expected a tensor of shape (C, H, W) with C in 1..4 or (H, W), got {tuple(t.shape)}")
        a = t.numpy()
    elif isinstance(image, np.ndarray):
        a = image
    else:
        raise TypeError(f"cannot make an image of {type(image).__name__}")
    rgb = _channels_last_to_rgb(_array_to_unit(np.asarray(a)))
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` in [0, 1] -> ``(H, W, 3)`` uint8, rounded (what an 8-bit file would store)."""
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"expected (3, H, W), got {tuple(x.shape)}")
    return (x.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def to_pil(x: torch.Tensor) -> Image.Image:
    return Image.fromarray(to_uint8(x), mode="RGB")


def load_image(path: str | os.PathLike, max_pixels: int | None = None) -> torch.Tensor:
    """Read one image file with Pillow and convert it with :func:`to_tensor`, upright.

    The EXIF orientation is applied (a phone's portrait photo stays portrait). A file with several frames (an
    animated GIF, a multi-page TIFF) gives its first, with a ``UserWarning`` that says so. An image of more than
    ``max_pixels`` pixels (default: Pillow's decompression-bomb limit, ``Image.MAX_IMAGE_PIXELS``) is refused with
    a ``ValueError`` before it is decoded; pass a larger number for a large image you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}")
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    pillow_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # Pillow's own check would refuse at open what max_pixels allows: ours decides
    try:
        with Image.open(path) as img:
            w, h = img.size
            if limit and w * h > limit:
                raise ValueError(
                    f"{path} is {w}x{h}, more than {limit:,} pixels (a decompression bomb?); "
                    "pass a larger max_pixels (nic: --max-pixels) if you trust it"
                )
            if getattr(img, "n_frames", 1) > 1:
                warnings.warn(f"{path} has {img.n_frames} frames; coding the first", stacklevel=2)
            img.load()
            return to_tensor(ImageOps.exif_transpose(img))
    except (UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise ValueError(f"{path} is not an image Pillow can read ({err})") from err
    except (OSError, SyntaxError, EOFError) as err:  # truncated or damaged files
        raise ValueError(f"{path} cannot be read: {err}") from err
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit


# --------------------------------------------------------------------------------------------------------------
# Shapes: padding to a stride, cropping back
# --------------------------------------------------------------------------------------------------------------


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "replicate") -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the bottom and right of ``(…, H, W)`` so both sides divide by ``multiple``; returns ``(x_pad, (H, W))``.

    Replicated edges cost fewer bits than zeros; :func:`crop` with the returned size undoes it.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    squeeze = x.ndim == 3
    y = x.unsqueeze(0) if squeeze else x
    y = F.pad(y, (0, pw, 0, ph), mode=mode)
    return (y.squeeze(0) if squeeze else y), (h, w)


def crop(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple`."""
    return x[..., : size[0], : size[1]]
