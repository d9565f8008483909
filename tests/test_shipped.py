"""The checkpoints shipped inside the package: what the plan promises, what the metadata must say, and what
the models must do on the held-out photos. Skipped, with a message, in a version that ships none yet."""

from pathlib import Path

import pytest
import torch

from helpers import bitstream as fmt
from helpers import checkpoints
from helpers.codec import DEFAULT_MODEL, compress, load_model
from helpers.datasets import default_images
from helpers.evaluate import LearnedFamily, rd_sweep
from helpers.images import crop, pad_to_multiple
from helpers.models import GenerativeCodec
from helpers.rd import rd_curve
from helpers.train import SHIPPED

SHIPPED_NAMES = checkpoints.available()  # the checkpoint files; the built-in overfitted codec has its own tests
pytestmark = pytest.mark.skipif(
    not SHIPPED_NAMES,
    reason="no checkpoints shipped yet (python -m helpers.train --plan shipped writes them into helpers/weights/)",
)
PLAN = {Path(c.export).stem: c for c in SHIPPED}


@pytest.fixture(scope="module")
def held_out():
    return default_images("test")


@pytest.fixture(scope="module")
def curves(held_out):
    return rd_curve(rd_sweep(held_out, LearnedFamily.shipped(swept=False), show_progress=False))


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_each_shipped_checkpoint_is_a_planned_run_with_its_metadata(name):
    assert name in PLAN, f"{name} is not in helpers.train.SHIPPED: nobody could reproduce it"
    cfg, model = PLAN[name], load_model(name)
    meta = model.meta
    assert type(model).__name__ == cfg.arch and model.config == cfg.model_config
    assert meta.get("lambda") == (cfg.lmbda if cfg.stage == "rd" else None)
    assert meta["steps"] == cfg.steps and meta["data"] == cfg.data and meta.get("stage", "rd") == cfg.stage
    assert meta["command"].startswith("python -m helpers.train")
    assert meta["total_steps"] > meta["steps"] and meta["total_train_seconds"] > meta["train_seconds"] > 0
    size = (checkpoints.CHECKPOINT_DIR / f"{name}.pt").stat().st_size
    assert size < 6e6, f"{name} is {size / 1e6:.1f} MB; shipped checkpoints stay a few MB"


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_each_shipped_model_decodes_exactly_what_it_measured(name, held_out):
    model = load_model(name)
    x = held_out["coffee"][:, :200, :264]  # not a multiple of 16
    data = model.compress(x)
    x_pad, size = pad_to_multiple(x[None], model.stride)
    with torch.no_grad():
        if isinstance(model, GenerativeCodec):
            expected = model.reconstruct(x)  # tiles through encoder, quantizer and generator
        else:
            expected = crop(model(x_pad).x_hat, size)[0].clamp(0, 1)
    x_hat = model.decompress(data)
    assert x_hat.shape == x.shape
    assert torch.allclose(x_hat, expected, atol=1e-6)


def test_rate_and_quality_rise_from_q1_to_q4(curves):
    for family, cur in curves.groupby("codec"):
        cur = cur.sort_values("setting")  # q1 .. q4
        assert cur.bpp.is_monotonic_increasing, f"{family}: {cur.bpp.tolist()}"
        assert cur.psnr.is_monotonic_increasing, f"{family}: {cur.psnr.tolist()}"


def test_the_default_model_is_a_planned_mid_rate_point(held_out):
    assert DEFAULT_MODEL in PLAN
    if DEFAULT_MODEL in SHIPPED_NAMES:
        header, _ = fmt.unpack(compress(held_out["coffee"]))
        assert header.name == DEFAULT_MODEL


def test_names_group_into_families_and_bad_names_fail_first():
    fams = LearnedFamily.group(["cae-q1", "factorized-q2", "cae-q3"])
    assert [(f.name, f.settings) for f in fams] == [("cae", ("cae-q1", "cae-q3")), ("factorized", ("factorized-q2",))]
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        LearnedFamily.group(["cae-q1", "cae-q9"])
