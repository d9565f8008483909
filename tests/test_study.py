"""The loss study of chapter 5: the restoration network, the scaled rate-distortion losses and the study harness."""

import json
from dataclasses import replace

import pandas as pd
import pytest
import torch

from helpers import checkpoints
from helpers.datasets import default_images
from helpers.losses import DISTORTION_LOSSES, DISTORTION_SCALE, rd_loss
from helpers.models import RecCNN
from helpers.study import StudyConfig, jpeg_pairs, run_study, save_study, summarize, train_restoration

TINY = StudyConfig(
    losses=("l2", "mix"), seeds=(0,), steps=6, batch_size=4, patch_size=64, model_config={"depth": 3, "channels": 8}
)


def test_reccnn_starts_as_the_identity_and_keeps_the_size():
    y = torch.rand(2, 3, 37, 50)
    assert torch.equal(RecCNN(depth=4, channels=8)(y), y)
    with pytest.raises(ValueError, match="depth"):
        RecCNN(depth=2)


def test_distortion_scales_are_the_measured_mse_ratios():
    ims = list(default_images("train").values())
    pairs = jpeg_pairs(ims, 30)
    for name, scale in DISTORTION_SCALE.items():
        mse = sum(float(DISTORTION_LOSSES["l2"](p[None, :3], p[None, 3:])) for p in pairs)
        loss = sum(float(DISTORTION_LOSSES[name](p[None, :3], p[None, 3:])) for p in pairs)
        assert mse / loss == pytest.approx(scale, rel=0.01), name


def test_rd_loss_with_another_distortion_uses_its_scale():
    x, x_hat, p = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64), torch.full((2, 4, 4, 4), 0.5)
    plain, l1 = rd_loss(x, x_hat, p, 0.01), rd_loss(x, x_hat, p, 0.01, "l1")
    assert torch.allclose(plain["loss"] - plain["bpp"], 0.01 * 255**2 * plain["mse"])
    expect = 0.01 * 255**2 * DISTORTION_SCALE["l1"] * (x - x_hat).abs().mean()
    assert torch.allclose(l1["loss"] - l1["bpp"], expect)


def test_a_short_training_beats_the_jpeg_it_restores():
    cfg = StudyConfig(steps=150, batch_size=8, lr=2e-3, model_config={"depth": 4, "channels": 16})
    x = default_images("test")["coffee"][:, :192, :256]
    decoded = jpeg_pairs([x], cfg.quality)[0][3:]
    net = train_restoration(cfg, "l2", seed=0)
    with torch.no_grad():
        restored = net(decoded[None])[0].clamp(0, 1)
    assert DISTORTION_LOSSES["l2"](x[None], restored[None]) < 0.95 * DISTORTION_LOSSES["l2"](x[None], decoded[None])


def test_same_seed_same_start_for_every_loss():
    a, b = (train_restoration(replace(TINY, steps=0), loss, 0) for loss in ("l2", "l1"))
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_study_rows_summary_and_files(tmp_path):
    rows = run_study(TINY)
    n_images = len(default_images("test"))
    assert len(rows) == n_images * (1 + 2)  # the JPEG baseline, then two losses x one seed
    assert set(rows["loss"]) == {"jpeg", "l2", "mix"} and rows[["psnr", "ssim", "ms_ssim", "l1"]].notna().all().all()
    table = summarize(rows)
    assert list(table.index) == ["jpeg", "l2", "mix"] and "psnr sd" not in table  # one seed: no spread to show
    two_seeds = pd.concat([rows, rows[rows["loss"] != "jpeg"].assign(seed=1, psnr=lambda r: r["psnr"] + 1.0)])
    table = summarize(two_seeds)
    assert table.loc["l2", "psnr sd"] == pytest.approx(2**-0.5) and pd.isna(table.loc["jpeg", "psnr sd"])
    csv, js = save_study(rows, TINY, tmp_path, "pytest")
    assert csv.exists() and json.loads(js.read_text())["config"]["losses"] == ["l2", "mix"]
    with pytest.raises(ValueError, match="49 pixels"):
        run_study(StudyConfig(losses=("mix",), patch_size=32))
    with pytest.raises(ValueError, match="unknown network"):
        run_study(StudyConfig(network="unet"))


@pytest.mark.skipif("cae-q1" not in checkpoints.available(), reason="needs the shipped cae-q1 checkpoint")
def test_cae_study_fine_tunes_the_shipped_rate_point_and_measures_real_bytes():
    cfg = replace(TINY, network="cae", losses=("l1",), steps=2, lmbdas=(0.0067,))
    rows = run_study(cfg)
    assert set(rows["loss"]) == {"shipped", "l1"} and (rows["lambda"] == 0.0067).all()
    assert (rows["bpp"] > 0).all() and (rows["bytes"] > 0).all()
    assert list(summarize(rows).index.names) == ["loss", "lambda"]
    with pytest.raises(FileNotFoundError, match="no shipped CAE"):
        run_study(replace(cfg, lmbdas=(0.5,)))
