"""A noisy channel: flip each transmitted bit with probability ``p`` and see what the decoder makes of it.

Santurkar et al. 2018 argue that a generative codec degrades gracefully: its latent is a short fixed-length code
whose every index decodes to *some* plausible image, while an entropy-coded stream (JPEG, or the ``.nic`` file)
loses its synchronisation at the first wrong bit. :func:`noise_tolerance` measures that for the three streams:

* ``latent``: the generative codec's indices sent as plain ``bits``-bit numbers (no entropy coding, no CRC);
* ``.nic``: the generative codec's entropy-coded file, whose CRC refuses any damage;
* ``JPEG``: a baseline JPEG file, decoded by Pillow whatever it holds.

A stream that does not decode to an image of the right size counts as *failed* and scores as a flat mid-grey
image, which is what a viewer could honestly show.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageFile

from .classical import classical_codecs
from .metrics import evaluate
from .models import GenerativeCodec

__all__ = ["decode_damaged_jpeg", "flip_bits", "flip_index_bits", "noise_tolerance"]


def flip_bits(data: bytes, p: float, rng: np.random.Generator) -> bytes:
    """Each bit of ``data`` flipped independently with probability ``p``."""
    bits = np.unpackbits(np.frombuffer(data, np.uint8))
    bits ^= (rng.random(bits.size) < p).astype(np.uint8)
    return np.packbits(bits).tobytes()


def flip_index_bits(k: torch.Tensor, bits: int, p: float, rng: np.random.Generator) -> torch.Tensor:
    """Fixed-length ``bits``-bit indices with each of their bits flipped with probability ``p``."""
    flips = rng.random((*k.shape, bits)) < p
    mask = (flips * (1 << np.arange(bits))).sum(-1)
    return k ^ torch.from_numpy(mask).to(k.dtype)


def decode_damaged_jpeg(data: bytes, size: tuple[int, int]) -> torch.Tensor | None:
    """Whatever Pillow decodes from a damaged JPEG, as leniently as a browser (a broken entropy-coded segment
    shows as what libjpeg made of it, not as an error), or None when no image of the right size comes out."""
    lenient = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.size != (size[1], size[0]):  # a flipped bit in the frame header: refuse before allocating
                return None
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255
    except Exception:  # unreadable headers and the like: Pillow raises many kinds; all mean "no image"
        return None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = lenient
    return torch.from_numpy(arr).permute(2, 0, 1)


def noise_tolerance(
    images: dict[str, torch.Tensor],
    model: GenerativeCodec,
    bits: int,
    jpeg_quality: int,
    error_rates=(0.0, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1),
    trials: int = 3,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (stream, error rate, image, trial): bytes sent, PSNR, MS-SSIM and whether decoding failed."""
    rng = np.random.default_rng(seed)
    jpeg = classical_codecs(["JPEG"])[0]
    rows = []
    for name, x in images.items():
        size = tuple(x.shape[-2:])
        k, grid = model.encode_indices(x, bits)
        nic = model.compress(x, bits=bits)
        jpg = jpeg.compress(x, jpeg_quality)
        grey = torch.full_like(x, 0.5)
        for p in error_rates:
            for t in range(trials):
                damaged = model.decode_indices(flip_index_bits(k, bits, p, rng), bits, grid, size)
                try:
                    from_nic = model.decompress(flip_bits(nic, p, rng))
                except ValueError:
                    from_nic = None
                from_jpg = decode_damaged_jpeg(flip_bits(jpg, p, rng), size)
                for stream, nbytes, out in [
                    ("latent", k.numel() * bits / 8, damaged),
                    (".nic", len(nic), from_nic),
                    ("JPEG", len(jpg), from_jpg),
                ]:
                    m = evaluate(x, grey if out is None else out)
                    rows.append(
                        {
                            "stream": stream,
                            "error_rate": p,
                            "image": name,
                            "trial": t,
                            "bytes": nbytes,
                            "psnr": m["psnr"],
                            "ms_ssim": m["ms_ssim"],
                            "failed": out is None,
                        }
                    )
    return pd.DataFrame(rows)
