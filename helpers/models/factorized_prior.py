"""Ballé et al. 2018 ("bmshj2018-factorized"): four strided 5x5 convolutions with GDN, a factorized prior."""

from __future__ import annotations

import torch
import torch.nn as nn

from .base import LearnedCodec
from .layers import GDN, conv, deconv

__all__ = ["FactorizedPrior"]


class FactorizedPrior(LearnedCodec):
    """Ballé et al. 2017/2018.  x → g_a (conv+GDN x4, /16) → y → round → ŷ → g_s (deconv+IGDN x4) → x̂;
    p(ŷ) per channel."""

    model_id = 1
    stride = 16
    decode_bytes_per_pixel = 820  # measured peak 649 B/pixel (benchmarks/speed.py), rounded up by a quarter

    def __init__(self, channels: int = 128, latent_channels: int = 192):
        super().__init__(latent_channels)
        self.config = {"channels": channels, "latent_channels": latent_channels}
        n, m = channels, latent_channels
        self.g_a = nn.Sequential(
            conv(3, n),
            GDN(n),  # H/2
            conv(n, n),
            GDN(n),  # H/4
            conv(n, n),
            GDN(n),  # H/8
            conv(n, m),  # H/16
        )
        self.g_s = nn.Sequential(
            deconv(m, n),
            GDN(n, inverse=True),  # H/8
            deconv(n, n),
            GDN(n, inverse=True),  # H/4
            deconv(n, n),
            GDN(n, inverse=True),  # H/2
            deconv(n, 3),  # H
        )
        self._init_ends(self.g_a[-1], self.g_s[-1])

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        return self.g_a(x)

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.g_s(y_hat)
