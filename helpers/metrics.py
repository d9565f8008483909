"""Rate and distortion: bpp from real byte counts, MSE, PSNR, SSIM and MS-SSIM on [0, 1] RGB tensors.

Every distortion function takes ``(3, H, W)`` or ``(B, 3, H, W)`` tensors and returns one value per image
(a 0-d tensor for a single image, shape ``(B,)`` for a batch). SSIM and MS-SSIM come from ``pytorch-msssim``
(Gaussian window 11, sigma 1.5, K = (0.01, 0.03), valid filtering, the mean over the three colour channels).
:func:`ssim_from_scratch` rebuilds SSIM from its definition for the book and is tested against the library.

Conventions (as in most papers): a decoded image is rounded to 8 bits before it is measured
(:func:`quantize_8bit`); PSNR uses a peak of 1.0 on [0, 1] data, which equals 255 on 8-bit data.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim as _ms_ssim
from pytorch_msssim import ssim as _ssim

__all__ = [
    "bpp",
    "evaluate",
    "gaussian_blur",
    "gaussian_window",
    "ms_ssim",
    "ms_ssim_db",
    "mse",
    "psnr",
    "quantize_8bit",
    "ssim",
    "ssim_components",
    "ssim_from_scratch",
]

WIN_SIZE, WIN_SIGMA, K1, K2 = 11, 1.5, 0.01, 0.03
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _pair(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    if x.shape != y.shape:
        raise ValueError(f"images differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    single = x.ndim == 3
    if single:
        x, y = x.unsqueeze(0), y.unsqueeze(0)
    if x.ndim != 4:
        raise ValueError(f"expected (C, H, W) or (B, C, H, W), got {tuple(x.shape)}")
    return x.float(), y.float(), single


def _out(v: torch.Tensor, single: bool) -> torch.Tensor:
    return v[0] if single else v


def bpp(num_bytes: int, height: int, width: int) -> float:
    """Bits per pixel of a file of ``num_bytes`` bytes for an ``height x width`` image: ``8 * bytes / (H * W)``."""
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    return 8.0 * num_bytes / (height * width)


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """Round [0, 1] values to the 256 levels an 8-bit file stores (clipping first)."""
    return (x.clamp(0, 1) * 255).round() / 255


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image, over all channels and pixels."""
    x, y, single = _pair(x, y)
    return _out(((x - y) ** 2).mean(dim=(1, 2, 3)), single)


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, ``10 log10(peak^2 / MSE)``; identical images give ``inf``."""
    m = mse(x, y)
    return 10 * torch.log10(data_range**2 / m)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image, via pytorch-msssim."""
    x, y, single = _pair(x, y)
    if min(x.shape[-2:]) < WIN_SIZE:
        raise ValueError(f"SSIM needs both sides >= {WIN_SIZE} pixels, got {x.shape[-2]}x{x.shape[-1]}")
    return _out(_ssim(x, y, data_range=data_range, size_average=False), single)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Multi-scale SSIM (Wang et al. 2003), 5 scales, per image, via pytorch-msssim."""
    x, y, single = _pair(x, y)
    need = (WIN_SIZE - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1)
    if min(x.shape[-2:]) <= need:
        raise ValueError(
            f"MS-SSIM downsamples 4 times and needs both sides > {need} pixels, got {x.shape[-2]}x{x.shape[-1]}; "
            "use ssim() for small images"
        )
    return _out(_ms_ssim(x, y, data_range=data_range, size_average=False), single)


def ms_ssim_db(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MS-SSIM on the decibel scale papers plot, ``-10 log10(1 - MS-SSIM)``."""
    return -10 * torch.log10((1 - ms_ssim(x, y)).clamp_min(1e-12))


@torch.no_grad()
def evaluate(reference: torch.Tensor, decoded: torch.Tensor, num_bytes: int | None = None) -> dict[str, float]:
    """Every metric for one image pair, the decoded image rounded to 8 bits first; bpp if a byte count is given."""
    if reference.ndim != 3:
        raise ValueError(f"evaluate() takes one (3, H, W) image, got {tuple(reference.shape)}")
    d = quantize_8bit(decoded)
    out = {"mse": float(mse(reference, d)), "psnr": float(psnr(reference, d))}
    h, w = reference.shape[-2:]
    out["ssim"] = float(ssim(reference, d)) if min(h, w) >= WIN_SIZE else math.nan
    out["ms_ssim"] = float(ms_ssim(reference, d)) if min(h, w) > 160 else math.nan
    if num_bytes is not None:
        out["bytes"] = int(num_bytes)
        out["bpp"] = bpp(num_bytes, h, w)
    return out


# --------------------------------------------------------------------------------------------------------------
# SSIM from its definition (chapter 1): the same numbers as pytorch-msssim, written to be read
# --------------------------------------------------------------------------------------------------------------


def gaussian_window(size: int = WIN_SIZE, sigma: float = WIN_SIGMA) -> torch.Tensor:
    """Normalised 1-D Gaussian of odd ``size`` (float64); SSIM filters with it along rows and then columns. The
    losses of :mod:`helpers.losses` use the same window."""
    coords = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def gaussian_blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable filter of ``(B, C, H, W)`` with the 1-D window ``g``, 'valid' (no padding), each channel on its
    own; ``g`` is cast to ``x``'s dtype and device."""
    c = x.shape[1]
    k = g.to(x.dtype).to(x.device)
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)  # along W
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)  # along H


def ssim_components(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> dict[str, torch.Tensor]:
    """The three SSIM maps of Wang et al. 2004 for ``(B, C, H, W)`` inputs: luminance, contrast, structure.

    l = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1), c = (2 s_x s_y + C2) / (s_x^2 + s_y^2 + C2),
    s = (s_xy + C3) / (s_x s_y + C3) with C3 = C2 / 2, so that c * s = (2 s_xy + C2) / (s_x^2 + s_y^2 + C2).
    """
    g = gaussian_window()
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    c3 = c2 / 2
    x, y = x.double(), y.double()
    mu_x, mu_y = gaussian_blur(x, g), gaussian_blur(y, g)
    var_x = (gaussian_blur(x * x, g) - mu_x**2).clamp_min(0)
    var_y = (gaussian_blur(y * y, g) - mu_y**2).clamp_min(0)
    cov = gaussian_blur(x * y, g) - mu_x * mu_y
    sd_x, sd_y = var_x.sqrt(), var_y.sqrt()
    return {
        "luminance": (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1),
        "contrast": (2 * sd_x * sd_y + c2) / (var_x + var_y + c2),
        "structure": (cov + c3) / (sd_x * sd_y + c3),
        # c * s in closed form: what the library computes; the product above equals it up to rounding
        "contrast_structure": (2 * cov + c2) / (var_x + var_y + c2),
    }


def ssim_from_scratch(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """SSIM per image: the mean over pixels and channels of luminance x contrast x structure."""
    x, y, single = _pair(x, y)
    m = ssim_components(x, y, data_range)
    ssim_map = m["luminance"] * m["contrast_structure"]
    return _out(ssim_map.mean(dim=(1, 2, 3)).float(), single)
