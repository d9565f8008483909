import pytest
import torch

from helpers.datasets import default_images
from helpers.distortions import DISTORTIONS, at_psnr
from helpers.metrics import psnr, ssim


@pytest.fixture(scope="module")
def crop():
    return default_images("test")["coffee"][:, 100:260, 200:360]


@pytest.mark.parametrize("kind", list(DISTORTIONS))
def test_at_psnr_hits_the_target(kind, crop):
    y, strength = at_psnr(crop, kind, 30.0)
    assert y.shape == crop.shape and strength > 0
    tolerance = 0.6 if kind == "jpeg" else 0.05  # JPEG moves in whole quality steps
    assert float(psnr(crop, y)) == pytest.approx(30.0, abs=tolerance)


def test_equal_psnr_but_ssim_disagrees(crop):
    """The chapter's point, as a regression test: at equal PSNR, SSIM ranks blur above noise."""
    blurred, _ = at_psnr(crop, "blur", 28.0)
    noisy, _ = at_psnr(crop, "noise", 28.0)
    assert float(ssim(crop, blurred)) > float(ssim(crop, noisy)) + 0.1
    assert torch.all((noisy >= 0) & (noisy <= 1))
