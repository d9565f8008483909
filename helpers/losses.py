"""Training objectives: the rate, the rate-distortion loss, and the distortion losses of Zhao et al. 2017.

Rate: ``bits = -sum log2 p``. Rate-distortion: ``lambda * 255^2 * MSE + bpp`` (Ballé et al. 2017).

Distortion losses, each differentiable and batched (``(B, C, H, W)`` in [0, 1], one scalar: the batch mean):

* :func:`l2_loss`, :func:`l1_loss`;
* :func:`ssim_loss` = 1 - SSIM, Gaussian window ``sigma`` (1.5 by default, 11 pixels: pytorch-msssim's SSIM);
* :func:`ms_ssim_loss` = 1 - MS-SSIM in Zhao et al.'s form: instead of downsampling (Wang et al. 2003, which
  needs sides > 160 pixels and is what :mod:`helpers.metrics` reports), the Gaussian widens,
  ``sigma = 0.5, 1, 2, 4, 8``; luminance at the widest, contrast-structure at every scale, multiplied
  (exponents 1). It works on training patches of any size above the widest window;
* :func:`mix_loss` = ``alpha * (1 - MS-SSIM) + (1 - alpha) * G * L1``, the L1 error weighted by the widest
  Gaussian, evaluated on the same pixels as the MS-SSIM map.

Constants, stated once: ``C1 = (0.01 * 1)^2``, ``C2 = (0.03 * 1)^2`` for data in [0, 1]; windows are truncated at
``ceil(3 * sigma_max)`` pixels each side and filtering is 'valid', so every map covers the same pixels. Zhao et
al. evaluate each loss at the centre pixel of a patch with a window as large as the patch; averaging the dense
map over all valid positions is the same loss for a convolutional network. The mix weight differs between the
paper (``alpha = 0.84``, :data:`ALPHA_PAPER`) and its reference code (NVlabs/PL4NN, ``alpha = 0.025``,
:data:`ALPHA_REFERENCE_CODE`). Measured on JPEG errors of the embedded test photos (quality 10-80), the weighted
L1 term is 14-20x smaller than ``1 - MS-SSIM``: with the paper's alpha MS-SSIM makes up ~99 % of the loss, with
the code's the two terms weigh about equally. Choose with ``alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from .metrics import gaussian_blur as _filter
from .metrics import gaussian_window

__all__ = [
    "ALPHA_PAPER",
    "ALPHA_REFERENCE_CODE",
    "DISTORTION_LOSSES",
    "DISTORTION_SCALE",
    "ZHAO_SIGMAS",
    "bits",
    "bpp_estimate",
    "gaussian_ms_ssim",
    "l1_loss",
    "l2_loss",
    "mix_loss",
    "ms_ssim_loss",
    "rd_loss",
    "ssim_loss",
]

C1, C2 = 0.01**2, 0.03**2
ZHAO_SIGMAS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
ALPHA_PAPER = 0.84
ALPHA_REFERENCE_CODE = 0.025


def bits(likelihoods: torch.Tensor) -> torch.Tensor:
    """Ideal code length in bits, ``-sum log2 p``; what an entropy coder achieves up to ~0.1 %."""
    return -torch.log2(likelihoods).sum()


def bpp_estimate(likelihoods: torch.Tensor, num_pixels: int) -> torch.Tensor:
    return bits(likelihoods) / num_pixels


def rd_loss(
    x: torch.Tensor, x_hat: torch.Tensor, likelihoods: torch.Tensor, lmbda: float, distortion: str = "l2"
) -> dict[str, torch.Tensor]:
    """``lambda * 255^2 * MSE + bpp`` for a batch; returns the total and its parts (for logging).

    With another ``distortion`` (a key of :data:`DISTORTION_LOSSES`) MSE is replaced by
    ``DISTORTION_SCALE[distortion] * loss``, so that one lambda means about the same trade-off for every loss.
    """
    b, _, h, w = x.shape
    mse = torch.mean((x - x_hat) ** 2)
    bpp = bpp_estimate(likelihoods, b * h * w)
    d = mse if distortion == "l2" else DISTORTION_SCALE[distortion] * DISTORTION_LOSSES[distortion](x, x_hat)
    return {"loss": lmbda * 255**2 * d + bpp, "mse": mse, "bpp": bpp}


# --------------------------------------------------------------------------------------------------------------
# Distortion losses (Zhao et al. 2017)
# --------------------------------------------------------------------------------------------------------------


def _check(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"losses take two (B, C, H, W) tensors of one shape, got {tuple(x.shape)}, {tuple(y.shape)}")


def l2_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error."""
    _check(x, y)
    return F.mse_loss(x, y)


def l1_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute error."""
    _check(x, y)
    return F.l1_loss(x, y)


def _window(sigma: float, radius: int, like: torch.Tensor) -> torch.Tensor:
    return gaussian_window(2 * radius + 1, sigma).to(like.dtype).to(like.device)


def _radius(sigmas: Sequence[float], win_size: int | None) -> int:
    if win_size is not None:
        if win_size % 2 != 1:
            raise ValueError(f"win_size must be odd, got {win_size}")
        return win_size // 2
    return math.ceil(3 * max(sigmas))


def gaussian_ms_ssim(
    x: torch.Tensor, y: torch.Tensor, sigmas: Sequence[float] = ZHAO_SIGMAS, win_size: int | None = None
) -> torch.Tensor:
    """Per-pixel MS-SSIM map of Zhao et al.: ``l(sigma_max) * prod_j cs(sigma_j)``, shape ``(B, C, h, w)`` with
    ``h = H - win_size + 1``. With one sigma it is the SSIM map of Wang et al. 2004."""
    _check(x, y)
    r = _radius(sigmas, win_size)
    if min(x.shape[-2:]) < 2 * r + 1:
        raise ValueError(f"images of {x.shape[-2]}x{x.shape[-1]} are smaller than the {2 * r + 1}-pixel window")
    cs_prod, lum = None, None
    for sigma in sorted(sigmas):
        g = _window(sigma, r, x)
        mu_x, mu_y = _filter(x, g), _filter(y, g)
        var_x = _filter(x * x, g) - mu_x**2
        var_y = _filter(y * y, g) - mu_y**2
        cov = _filter(x * y, g) - mu_x * mu_y
        cs = (2 * cov + C2) / (var_x + var_y + C2)
        cs_prod = cs if cs_prod is None else cs_prod * cs
        lum = (2 * mu_x * mu_y + C1) / (mu_x**2 + mu_y**2 + C1)  # the widest sigma's is kept
    return lum * cs_prod


def ssim_loss(x: torch.Tensor, y: torch.Tensor, sigma: float = 1.5, win_size: int | None = 11) -> torch.Tensor:
    """``1 - SSIM``, averaged over pixels, channels and the batch (pytorch-msssim's SSIM at the defaults)."""
    return 1 - gaussian_ms_ssim(x, y, (sigma,), win_size).mean()


def ms_ssim_loss(x: torch.Tensor, y: torch.Tensor, sigmas: Sequence[float] = ZHAO_SIGMAS) -> torch.Tensor:
    """``1 - MS-SSIM`` in Zhao et al.'s multi-sigma form, averaged over pixels, channels and the batch."""
    return 1 - gaussian_ms_ssim(x, y, sigmas).mean()


def mix_loss(
    x: torch.Tensor, y: torch.Tensor, alpha: float = ALPHA_PAPER, sigmas: Sequence[float] = ZHAO_SIGMAS
) -> torch.Tensor:
    """``alpha * (1 - MS-SSIM) + (1 - alpha) * G_sigma_max * |x - y|`` on the same pixels, averaged."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    ms = gaussian_ms_ssim(x, y, sigmas)
    weighted_l1 = _filter((x - y).abs(), _window(max(sigmas), _radius(sigmas, None), x))
    return (alpha * (1 - ms) + (1 - alpha) * weighted_l1).mean()


#: The losses of the study, by the names its command line and tables use.
DISTORTION_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l2": l2_loss,
    "l1": l1_loss,
    "ssim": ssim_loss,
    "ms-ssim": ms_ssim_loss,
    "mix": mix_loss,
}

#: MSE-equivalent scale of each loss: mean MSE / mean loss over JPEG (quality 30) errors of the embedded training
#: photos (measured; from quality 10 to 50 the ratios move by a factor of up to 1.6). ``rd_loss`` multiplies a
#: loss by it, so that ``lambda`` keeps roughly its meaning whichever distortion a codec is trained for.
DISTORTION_SCALE: dict[str, float] = {"l2": 1.0, "l1": 0.0585, "ssim": 0.00871, "ms-ssim": 0.00304, "mix": 0.00358}
