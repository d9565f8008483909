"""Building blocks: strided convolutions, GDN (Ballé et al. 2016), residual blocks and sub-pixel upsampling."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["GDN", "ResidualBlock", "conv", "deconv", "subpixel_conv"]


def conv(cin: int, cout: int, kernel: int = 5, stride: int = 2) -> nn.Conv2d:
    """'Same' convolution that divides height and width by ``stride``."""
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)


def deconv(cin: int, cout: int, kernel: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """Transposed convolution that multiplies height and width by ``stride`` exactly."""
    return nn.ConvTranspose2d(cin, cout, kernel, stride=stride, padding=kernel // 2, output_padding=stride - 1)


def subpixel_conv(cin: int, cout: int, scale: int = 2, kernel: int = 3) -> nn.Sequential:
    """Convolution to ``cout * scale^2`` channels, then pixel shuffle (Shi et al. 2016): no checkerboard artefacts."""
    return nn.Sequential(nn.Conv2d(cin, cout * scale**2, kernel, padding=kernel // 2), nn.PixelShuffle(scale))


class GDN(nn.Module):
    """Generalized divisive normalization: ``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)`` (inverse multiplies).

    beta and gamma are kept positive by storing square roots with a small pedestal, as in Ballé's reference code.
    """

    _pedestal = 2**-36

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.beta_min = beta_min
        self.beta = nn.Parameter(torch.sqrt(torch.ones(channels) + self._pedestal))
        self.gamma = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels) + self._pedestal))

    def _positive(self, v: torch.Tensor, minimum: float) -> torch.Tensor:
        bound = (minimum + self._pedestal) ** 0.5
        v = torch.maximum(v, v.new_tensor(bound)) if not v.requires_grad else _lower_bound(v, bound)
        return v * v - self._pedestal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        beta = self._positive(self.beta, self.beta_min)
        gamma = self._positive(self.gamma, 0.0).view(c, c, 1, 1)
        norm = torch.sqrt(F.conv2d(x * x, gamma, beta))
        return x * norm if self.inverse else x / norm


class _LowerBound(torch.autograd.Function):
    """max(x, bound) whose gradient still flows when x is below the bound and the gradient pushes it up."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp_min(bound)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        pass_through = (x >= ctx.bound) | (grad < 0)
        return grad * pass_through, None


def _lower_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    return _LowerBound.apply(x, bound)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a PReLU between them, added to the input (He et al. 2016)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.PReLU(channels), nn.Conv2d(channels, channels, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)
