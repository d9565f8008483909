"""Training objectives. Rate: bits from likelihoods. Rate-distortion: ``lambda * 255^2 * MSE + bpp`` (Ballé 2017)."""

from __future__ import annotations

import torch

__all__ = ["bits", "bpp_estimate", "rd_loss"]


def bits(likelihoods: torch.Tensor) -> torch.Tensor:
    """Ideal code length in bits, ``-sum log2 p``; what an entropy coder achieves up to ~0.1 %."""
    return -torch.log2(likelihoods).sum()


def bpp_estimate(likelihoods: torch.Tensor, num_pixels: int) -> torch.Tensor:
    return bits(likelihoods) / num_pixels


def rd_loss(x: torch.Tensor, x_hat: torch.Tensor, likelihoods: torch.Tensor, lmbda: float) -> dict[str, torch.Tensor]:
    """``lambda * 255^2 * MSE + bpp`` for a batch; returns the total and its parts (for logging)."""
    b, _, h, w = x.shape
    mse = torch.mean((x - x_hat) ** 2)
    bpp = bpp_estimate(likelihoods, b * h * w)
    return {"loss": lmbda * 255**2 * mse + bpp, "mse": mse, "bpp": bpp}
