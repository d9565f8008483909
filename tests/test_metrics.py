import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from helpers.datasets import default_images
from helpers.metrics import (
    bpp,
    evaluate,
    ms_ssim,
    ms_ssim_db,
    mse,
    psnr,
    quantize_8bit,
    ssim,
    ssim_components,
    ssim_from_scratch,
)


def test_bpp_from_bytes():
    assert bpp(1000, 100, 80) == 1.0
    assert bpp(0, 10, 10) == 0.0
    with pytest.raises(ValueError):
        bpp(10, 0, 5)


def test_mse_and_psnr_known_values():
    x = torch.zeros(3, 8, 8)
    y = torch.full((3, 8, 8), 0.1)
    assert float(mse(x, y)) == pytest.approx(0.01)
    assert float(psnr(x, y)) == pytest.approx(20.0)
    # one grey level of error everywhere on 8-bit data: 20 log10(255) = 48.13 dB
    assert float(psnr(x, torch.full_like(x, 1 / 255))) == pytest.approx(48.1308, abs=1e-3)
    assert math.isinf(float(psnr(x, x)))


def test_batched_shapes_and_per_image_values():
    x = torch.rand(4, 3, 32, 32)
    y = x.clone()
    y[2] += 0.05
    p = psnr(x, y.clamp(0, 1))
    assert p.shape == (4,) and math.isinf(p[0]) and math.isfinite(p[2])
    assert ssim(x, y).shape == (4,)


def test_psnr_matches_scikit_image():
    ims = default_images("test")
    x = ims["astronaut"]
    y = quantize_8bit((x + 0.03 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1))
    ref = peak_signal_noise_ratio(x.numpy(), y.numpy(), data_range=1.0)
    assert float(psnr(x, y)) == pytest.approx(ref, abs=1e-4)


def test_ssim_known_pairs():
    x = default_images("test")["coffee"]
    assert float(ssim(x, x)) == pytest.approx(1.0, abs=1e-6)
    noisy = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    s = float(ssim(x, noisy))
    assert 0.2 < s < 0.8
    # scikit-image with the same Gaussian window agrees (it pads differently at borders: a small tolerance)
    ref = np.mean(
        [
            structural_similarity(
                x[c].numpy(),
                noisy[c].numpy(),
                data_range=1.0,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )
            for c in range(3)
        ]
    )
    assert s == pytest.approx(ref, abs=0.01)


def test_ssim_from_scratch_matches_pytorch_msssim(rng):
    x = torch.rand(2, 3, 48, 40, generator=rng)
    y = (x + 0.2 * torch.randn(x.shape, generator=rng)).clamp(0, 1)
    np.testing.assert_allclose(ssim_from_scratch(x, y).numpy(), ssim(x, y).numpy(), atol=1e-5)
    photo = default_images("test")["astronaut"]
    blurred = torch.nn.functional.avg_pool2d(photo[None], 3, 1, 1)[0]
    assert float(ssim_from_scratch(photo, blurred)) == pytest.approx(float(ssim(photo, blurred)), abs=1e-5)


def test_ssim_components_multiply_out(rng):
    x = torch.rand(1, 3, 32, 32, generator=rng)
    y = (x * 0.7 + 0.1).clamp(0, 1)
    m = ssim_components(x, y)
    torch.testing.assert_close(m["contrast"] * m["structure"], m["contrast_structure"], atol=1e-6, rtol=1e-6)
    assert (m["luminance"] <= 1 + 1e-12).all() and (m["contrast"] <= 1 + 1e-12).all()


def test_ms_ssim():
    x = default_images("test")["astronaut"]
    assert float(ms_ssim(x, x)) == pytest.approx(1.0, abs=1e-6)
    blurred = torch.nn.functional.avg_pool2d(x[None], 5, 1, 2)[0]
    v = float(ms_ssim(x, blurred))
    assert 0.8 < v < 1.0
    assert float(ms_ssim_db(x, blurred)) == pytest.approx(-10 * math.log10(1 - v), rel=1e-4)


def test_metric_input_errors():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(torch.zeros(3, 4, 4), torch.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="> 160"):
        ms_ssim(torch.zeros(3, 100, 100), torch.zeros(3, 100, 100))
    with pytest.raises(ValueError, match=">= 11"):
        ssim(torch.zeros(3, 8, 8), torch.zeros(3, 8, 8))


def test_evaluate_rounds_to_8_bit_and_counts_bytes():
    x = quantize_8bit(torch.rand(3, 200, 170, generator=torch.Generator().manual_seed(3)))
    tiny = x + 0.4 / 255  # rounds back to x
    out = evaluate(x, tiny.clamp(0, 1), num_bytes=4250)
    assert math.isinf(out["psnr"]) and out["ms_ssim"] == pytest.approx(1.0)
    assert out["bpp"] == pytest.approx(8 * 4250 / (200 * 170)) and out["bytes"] == 4250
    small = evaluate(torch.rand(3, 12, 12), torch.rand(3, 12, 12))
    assert math.isnan(small["ms_ssim"]) and math.isfinite(small["ssim"])
