"""Classical codecs measured for real through Pillow: JPEG, JPEG 2000, WebP and AVIF.

Each codec turns a ``(3, H, W)`` image into the bytes of a real file and back; the rate is ``8 * len(bytes) / (H*W)``
of that file, never an estimate. Each is a :class:`helpers.evaluate.ImageCodec`: :func:`helpers.evaluate.rd_sweep`
measures them beside the learned codecs.

Settings chosen here (see the engineering notes of the project):

* JPEG (libjpeg-turbo): ``quality`` 1-95, ``optimize=True`` (optimal Huffman tables), 4:2:0 chroma subsampling.
* WebP (libwebp): ``quality`` 0-100, ``method=6`` (slowest, smallest files).
* AVIF (libavif with aom): ``quality`` 0-100, ``speed=6``, 4:2:0.
* JPEG 2000 (OpenJPEG): the setting is the *compression ratio* (24 bits / ratio = bpp), irreversible 9/7 wavelet,
  colour transform on (``mct=1``); Pillow's defaults (reversible wavelet, no colour transform) code RGB poorly.
* JPEG XL (libjxl through imagecodecs, optional: ``pip install nic-book[jxl]``): the setting is the Butteraugli
  ``distance`` (lower is better, 1.0 is "visually lossless"), ``effort=7`` (libjxl's default). Not in the default
  set of four, so the book runs without it; ``classical_codecs(["JPEG XL"])`` and ``benchmarks/rd.py`` use it.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, features

from .images import to_pil, to_tensor

__all__ = ["CLASSICAL", "OPTIONAL", "JpegXLCodec", "PillowCodec", "classical_codecs", "encode_at_bpp"]


@dataclass(frozen=True)
class PillowCodec:
    """One Pillow image format with a single rate knob (``setting``)."""

    name: str
    pillow_format: str
    feature: str  # Pillow feature that must be compiled in
    knob: str  # what the setting means, for tables and plots
    settings: tuple = ()
    quick_settings: tuple = ()
    options: dict = field(default_factory=dict)

    def available(self) -> bool:
        return bool(features.check(self.feature))

    def save_options(self, setting) -> dict:
        if self.pillow_format == "JPEG2000":
            ratio = float(setting)
            if ratio < 1:
                raise ValueError(f"JPEG 2000 compression ratio must be >= 1, got {setting}")
            return {**self.options, "quality_mode": "rates", "quality_layers": [ratio]}
        q = int(setting)
        if not 0 <= q <= 100:
            raise ValueError(f"{self.name} quality must be in 0..100, got {setting}")
        return {**self.options, "quality": q}

    def compress(self, x: torch.Tensor, setting) -> bytes:
        if not self.available():
            raise RuntimeError(f"this Pillow ({Image.__version__}) was built without {self.name} support")
        img = to_pil(x)
        opts = self.save_options(setting)
        if self.pillow_format == "JPEG2000":
            # OpenJPEG needs each side >= 2^(resolutions-1); small images get fewer wavelet levels
            opts["num_resolutions"] = max(1, min(6, min(img.size).bit_length()))
        buf = io.BytesIO()
        img.save(buf, format=self.pillow_format, **opts)
        return buf.getvalue()

    def decompress(self, data: bytes) -> torch.Tensor:
        try:
            with Image.open(io.BytesIO(data)) as img:
                if img.format != self.pillow_format:
                    raise ValueError(f"expected a {self.name} stream, got {img.format or 'an unknown format'}")
                with warnings.catch_warnings():
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    img.load()
                return to_tensor(img.convert("RGB"))
        except ValueError:
            raise
        except (OSError, SyntaxError, EOFError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise ValueError(f"not a valid {self.name} stream ({len(data)} bytes): {err}") from err


CLASSICAL: dict[str, PillowCodec] = {
    c.name: c
    for c in [
        PillowCodec(
            "JPEG",
            "JPEG",
            "jpg",
            "quality",
            settings=(5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95),
            quick_settings=(5, 10, 20, 40, 60, 80, 95),
            options={"optimize": True, "subsampling": "4:2:0"},
        ),
        PillowCodec(
            "JPEG 2000",
            "JPEG2000",
            "jpg_2000",
            "compression ratio",
            settings=(240, 160, 120, 80, 60, 40, 30, 24, 16, 12, 8),
            quick_settings=(240, 120, 60, 30, 16, 8),
            options={"irreversible": True, "mct": 1},
        ),
        PillowCodec(
            "WebP",
            "WEBP",
            "webp",
            "quality",
            settings=(0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95),
            quick_settings=(0, 10, 30, 50, 70, 90),
            options={"method": 6},
        ),
        PillowCodec(
            "AVIF",
            "AVIF",
            "avif",
            "quality",
            settings=(5, 10, 20, 30, 40, 50, 60, 70, 80, 90),
            quick_settings=(5, 20, 40, 60, 80, 90),
            options={"speed": 6, "subsampling": "4:2:0"},
        ),
    ]
}


@dataclass(frozen=True)
class JpegXLCodec:
    """JPEG XL through imagecodecs (libjxl): a bare ``.jxl`` codestream; the setting is the Butteraugli distance."""

    name: str = "JPEG XL"
    knob: str = "distance"
    settings: tuple = (15.0, 10.0, 7.0, 5.0, 4.0, 3.0, 2.0, 1.5, 1.0, 0.7, 0.5)  # lowest rate first
    quick_settings: tuple = (15.0, 7.0, 4.0, 2.0, 1.0, 0.5)
    effort: int = 7

    def available(self) -> bool:
        try:
            import imagecodecs
        except ImportError:
            return False
        return bool(getattr(getattr(imagecodecs, "JPEGXL", None), "available", False))

    def compress(self, x: torch.Tensor, setting) -> bytes:
        import imagecodecs

        distance = float(setting)
        if not 0 < distance <= 25:
            raise ValueError(f"JPEG XL distance must be in (0, 25], got {setting}")
        return bytes(imagecodecs.jpegxl_encode(np.asarray(to_pil(x)), distance=distance, effort=self.effort))

    def decompress(self, data: bytes) -> torch.Tensor:
        import imagecodecs

        if not bytes(data[:2]) == b"\xff\x0a" and not bytes(data[:12]).endswith(b"JXL \r\n\x87\n"):
            raise ValueError("not a JPEG XL stream (bad signature)")
        try:
            arr = imagecodecs.jpegxl_decode(data)
        except Exception as err:  # imagecodecs raises its own JpegxlError (a RuntimeError) on broken streams
            raise ValueError(f"not a valid JPEG XL stream ({len(data)} bytes): {err}") from err
        return to_tensor(arr)


#: Codecs outside the default four: used when named (``classical_codecs(["JPEG XL"])``) and installed.
OPTIONAL: dict[str, JpegXLCodec] = {"JPEG XL": JpegXLCodec()}


def classical_codecs(names: Iterable[str] | None = None) -> list[PillowCodec | JpegXLCodec]:
    """The named classical codecs (the four Pillow ones by default; ``"all"``: also every optional one that is
    installed); unknown or missing ones raise a clear error."""
    if names == "all":
        names = list(CLASSICAL) + [n for n, c in OPTIONAL.items() if c.available()]
    names = list(CLASSICAL) if names is None else list(names)
    lookup = {k.lower().replace(" ", ""): v for k, v in {**CLASSICAL, **OPTIONAL}.items()}
    out = []
    for n in names:
        codec = lookup.get(n.lower().replace(" ", "").replace("-", ""))
        if codec is None:
            raise ValueError(f"unknown codec {n!r}; choose from {', '.join([*CLASSICAL, *OPTIONAL])}")
        if not codec.available():
            if isinstance(codec, JpegXLCodec):
                raise RuntimeError("JPEG XL needs imagecodecs with libjxl: pip install 'nic-book[jxl]'")
            raise RuntimeError(f"this Pillow ({Image.__version__}) was built without {codec.name} support")
        out.append(codec)
    return out


def encode_at_bpp(x: torch.Tensor, codec: PillowCodec, target_bpp: float) -> tuple[object, bytes, torch.Tensor]:
    """The highest-quality file of ``codec`` that spends at most ``target_bpp``: ``(setting, bytes, decoded)``.

    JPEG 2000 takes the rate directly (ratio = 24 / bpp); quality knobs are bisected over 0..100 (file size grows
    with quality). If even the lowest quality is larger than the budget, that smallest file is returned.
    """
    h, w = x.shape[-2:]
    if target_bpp <= 0:
        raise ValueError(f"target_bpp must be positive, got {target_bpp}")
    if codec.pillow_format == "JPEG2000":
        setting = max(1.0, 24.0 / target_bpp)
        data = codec.compress(x, setting)
        return setting, data, codec.decompress(data)
    lo, hi = (1, 95) if codec.pillow_format == "JPEG" else (0, 100)
    best = None
    while lo <= hi:
        q = (lo + hi) // 2
        data = codec.compress(x, q)
        if 8 * len(data) / (h * w) <= target_bpp:
            best, lo = (q, data), q + 1
        else:
            hi = q - 1
    if best is None:
        q = 1 if codec.pillow_format == "JPEG" else 0
        best = (q, codec.compress(x, q))
    return best[0], best[1], codec.decompress(best[1])
