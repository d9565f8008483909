"""The distortion losses of the loss-function study, against pytorch-msssim and against finite differences."""

import pytest
import torch
from pytorch_msssim import ssim as library_ssim

from helpers.classical import CLASSICAL
from helpers.datasets import default_images
from helpers.losses import (
    ALPHA_PAPER,
    ALPHA_REFERENCE_CODE,
    DISTORTION_LOSSES,
    gaussian_ms_ssim,
    l1_loss,
    l2_loss,
    mix_loss,
    ms_ssim_loss,
    ssim_loss,
)


@pytest.fixture(scope="module")
def pair():
    x = default_images("test")["astronaut"][:, 100:228, 200:328]
    y = CLASSICAL["JPEG"].decompress(CLASSICAL["JPEG"].compress(x, 20))
    return torch.stack([y, x.flip(-1)]), torch.stack([x, x])  # a JPEG pair and an unrelated pair, one batch


def test_ssim_loss_is_one_minus_pytorch_msssim(pair):
    x_hat, x = pair
    assert float(ssim_loss(x_hat, x)) == pytest.approx(1 - float(library_ssim(x_hat, x, data_range=1.0)), abs=1e-5)
    assert float(ssim_loss(x_hat[:1], x[:1])) == pytest.approx(
        1 - float(library_ssim(x_hat[:1], x[:1], data_range=1.0)), abs=1e-5
    )


def test_identical_images_cost_nothing(pair):
    _, x = pair
    for name, loss in DISTORTION_LOSSES.items():
        assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-6), name


def test_every_loss_ranks_jpeg_output_above_an_unrelated_image(pair):
    x_hat, x = pair
    for name, loss in DISTORTION_LOSSES.items():
        jpeg, unrelated = float(loss(x_hat[:1], x[:1])), float(loss(x_hat[1:], x[1:]))
        assert 0 < jpeg < unrelated, name


def test_the_multi_sigma_form_with_one_scale_is_ssim(pair):
    x_hat, x = pair
    one = gaussian_ms_ssim(x_hat, x, (1.5,), win_size=11).mean()
    assert float(one) == pytest.approx(float(library_ssim(x_hat, x, data_range=1.0)), abs=1e-5)
    maps = gaussian_ms_ssim(x_hat, x)  # five sigmas up to 8: a 49-pixel window, 'valid'
    assert maps.shape == (2, 3, 128 - 48, 128 - 48)


def test_mix_interpolates_between_its_terms(pair):
    x_hat, x = pair
    ms, weighted_l1 = float(ms_ssim_loss(x_hat, x)), float(mix_loss(x_hat, x, alpha=0.0))
    assert float(mix_loss(x_hat, x, alpha=1.0)) == pytest.approx(ms, rel=1e-5)
    for alpha in (ALPHA_PAPER, ALPHA_REFERENCE_CODE):
        expected = alpha * ms + (1 - alpha) * weighted_l1
        assert float(mix_loss(x_hat, x, alpha=alpha)) == pytest.approx(expected, rel=1e-5)
    # a constant error weighs the same under any normalised Gaussian
    assert float(mix_loss(x + 0.1, x, alpha=0.0)) == pytest.approx(0.1, rel=1e-5)
    assert weighted_l1 == pytest.approx(float(l1_loss(x_hat, x)), rel=0.15)  # centre-weighted, about the same


def test_l2_and_l1_are_the_plain_means():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    assert float(l2_loss(a, b)) == pytest.approx(float(((a - b) ** 2).mean()))
    assert float(l1_loss(a, b)) == pytest.approx(float((a - b).abs().mean()))


@pytest.mark.parametrize("name", list(DISTORTION_LOSSES))
def test_gradients_match_finite_differences(name):
    g = torch.Generator().manual_seed(1)
    y = torch.rand(1, 3, 27, 27, generator=g, dtype=torch.float64)
    x = (y + 0.1 * torch.randn(1, 3, 27, 27, generator=g, dtype=torch.float64)).clamp(0, 1).requires_grad_()
    small = {"ssim": dict(win_size=7), "ms-ssim": dict(sigmas=(0.5, 1.0, 2.0)), "mix": dict(sigmas=(0.5, 1.0, 2.0))}
    loss = DISTORTION_LOSSES[name]
    assert torch.autograd.gradcheck(lambda v: loss(v, y, **small.get(name, {})), (x,), eps=1e-6, atol=1e-5)


def test_bad_inputs_say_what_is_wrong():
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(ValueError, match="one shape"):
        l2_loss(x, x[..., :16])
    with pytest.raises(ValueError, match="window"):
        ms_ssim_loss(x, x)  # 32 pixels < the 49-pixel window of sigma 8
    with pytest.raises(ValueError, match="alpha"):
        mix_loss(x, x, alpha=1.5)
    with pytest.raises(ValueError, match="odd"):
        ssim_loss(x, x, win_size=8)
