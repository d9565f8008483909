"""Controlled damage for metric experiments: blur, noise and JPEG blocking, each calibrated to a target PSNR."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.transforms.v2 import functional as TF

from .classical import CLASSICAL
from .metrics import psnr, quantize_8bit

__all__ = ["DISTORTIONS", "at_psnr", "blur", "jpeg", "noise"]


def blur(x: torch.Tensor, strength: float) -> torch.Tensor:
    """Gaussian blur with standard deviation ``strength`` pixels."""
    k = 2 * int(3 * strength) + 1
    return TF.gaussian_blur(x, [k, k], [strength, strength])


def noise(x: torch.Tensor, strength: float, seed: int = 0) -> torch.Tensor:
    """Additive white Gaussian noise with standard deviation ``strength`` (on [0, 1]), clipped, fixed seed."""
    g = torch.Generator().manual_seed(seed)
    return (x + strength * torch.randn(x.shape, generator=g)).clamp(0, 1)


def jpeg(x: torch.Tensor, strength: float) -> torch.Tensor:
    """A real JPEG round trip; ``strength`` in [0, 1) maps to quality ``round(100 * (1 - strength))``."""
    codec = CLASSICAL["JPEG"]
    q = max(1, min(95, round(100 * (1 - strength))))
    return codec.decompress(codec.compress(x, q))


DISTORTIONS: dict[str, tuple[Callable, float, float]] = {
    # name: (function, weakest strength, strongest strength) for the bisection
    "blur": (blur, 0.05, 20.0),
    "noise": (noise, 1e-4, 0.5),
    "jpeg": (jpeg, 0.05, 0.99),
}


def at_psnr(x: torch.Tensor, kind: str, target_db: float, iters: int = 30) -> tuple[torch.Tensor, float]:
    """Bisect the strength of distortion ``kind`` until the 8-bit result is as close to ``target_db`` as it gets.

    Returns ``(damaged image, strength)``. JPEG moves in whole quality steps, so it lands within ~0.5 dB.
    """
    fn, lo, hi = DISTORTIONS[kind]

    def db(s):
        return float(psnr(x, quantize_8bit(fn(x, s))))

    best = None
    for _ in range(iters):
        mid = (lo * hi) ** 0.5  # strengths span decades: bisect on a log scale
        p = db(mid)
        if best is None or abs(p - target_db) < abs(best[1] - target_db):
            best = (mid, p)
        if p > target_db:
            lo = mid
        else:
            hi = mid
    return quantize_8bit(fn(x, best[0])), best[0]
