"""A hand-made transform for chapter 2: the orthonormal 2x2 Haar wavelet, one level, per colour channel."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["SUBBANDS", "haar", "inverse_haar"]

SUBBANDS = ("LL", "LH", "HL", "HH")
# rows: the four 2x2 basis images (average, vertical edge, horizontal edge, diagonal), orthonormal
_BASIS = 0.5 * torch.tensor([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=torch.float32)


def _kernel(channels: int) -> torch.Tensor:
    return _BASIS.view(4, 1, 2, 2).repeat(channels, 1, 1, 1)  # (4C, 1, 2, 2)


def haar(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` with even H, W -> ``(B, 4C, H/2, W/2)``: channel ``4c + k`` is subband ``SUBBANDS[k]`` of
    input channel c. Orthonormal: the energy (and so the MSE of any quantization error) is preserved."""
    if x.shape[-2] % 2 or x.shape[-1] % 2:
        raise ValueError(f"haar needs even height and width, got {tuple(x.shape[-2:])}; pad first")
    c = x.shape[1]
    return F.conv2d(x, _kernel(c).to(x), stride=2, groups=c)


def inverse_haar(y: torch.Tensor) -> torch.Tensor:
    """Exact inverse of :func:`haar`."""
    c = y.shape[1] // 4
    return F.conv_transpose2d(y, _kernel(c).to(y), stride=2, groups=c)
