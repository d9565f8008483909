"""Large images: the transforms run in tiles above ``Codec.tile_above`` pixels, with the same result as whole."""

import pytest
import torch
import torch.nn.functional as F

from helpers import checkpoints
from helpers.codec import api
from helpers.datasets import default_images
from helpers.images import pad_to_multiple
from helpers.metrics import psnr
from helpers.models import tiled
from helpers.models.base import Codec


def _models():
    models = [api.load_model("factorized-q3"), api.load_model("cae-q3")]
    try:
        from helpers.models import CompressAIFactorized
        from helpers.train.plans import FP_CONFIG

        torch.manual_seed(0)
        models.append(CompressAIFactorized(**FP_CONFIG).eval())
    except ImportError:
        pass
    return models


@pytest.mark.parametrize("model", _models(), ids=lambda m: type(m).__name__)
def test_tiles_with_their_margin_give_the_whole_transform(model):
    """Tiles of 3x3 latent positions, each with ``tile_margin`` positions of context: equal to the whole transform
    up to float rounding (measured: exactly equal from a margin of 2 positions for the factorized models and 7 for
    the CAE); without a margin the seams show (so the comparison can fail)."""
    analysis = getattr(model, "analysis", None) or model.net.g_a
    synthesis = getattr(model, "synthesis", None) or model.net.g_s
    x, _ = pad_to_multiple(default_images("test")["astronaut"][None, :, :200, :250], model.stride)
    s = model.stride
    with torch.no_grad():
        y = analysis(x)
        y_tiled = tiled(analysis, x, s, 1, tile=3, margin=model.tile_margin)
        x_hat = synthesis(torch.round(y))
        x_tiled = tiled(synthesis, torch.round(y), 1, s, tile=3, margin=model.tile_margin)
        seams = (tiled(analysis, x, s, 1, tile=3, margin=0), tiled(synthesis, torch.round(y), 1, s, tile=3, margin=0))
    assert y_tiled.shape == y.shape and x_tiled.shape == x_hat.shape == x.shape
    assert (y_tiled - y).abs().max() < 1e-3 * y.abs().max()
    assert (x_tiled - x_hat).abs().max() < 1e-4
    assert (seams[0] - y).abs().max() > 1e-2 and (seams[1] - x_hat).abs().max() > 1e-3


@pytest.mark.parametrize("which", ["tiny_checkpoint", "tiny_peer"])
def test_a_4000x3000_photo_codes_in_tiles(which, request, monkeypatch):
    """A 12-megapixel image round-trips through the tiled path (bytes -> image of the right size); its decoded
    image matches the whole-image computation to rounding (a latent at exactly .5 may round the other way)."""
    model = checkpoints.load(request.getfixturevalue(which))
    x = F.interpolate(default_images("test")["coffee"][None], size=(3000, 4000), mode="bilinear", align_corners=False)[
        0
    ].clamp(0, 1)
    calls = []
    monkeypatch.setattr("helpers.models.base.tiled", lambda *a, **k: calls.append(1) or tiled(*a, **k))
    data = model.compress(x)
    x_hat = model.decompress(data)
    assert len(calls) == 2 and x_hat.shape == (3, 3000, 4000)
    monkeypatch.setattr(Codec, "tile_above", 10**12)  # the same image computed whole
    whole = model.decompress(model.compress(x))
    assert len(calls) == 2 and psnr(whole, x_hat) > 50


def test_small_images_are_computed_whole(tiny_checkpoint, monkeypatch):
    model = checkpoints.load(tiny_checkpoint)
    monkeypatch.setattr("helpers.models.base.tiled", lambda *a, **k: pytest.fail("tiled a small image"))
    x = default_images("test")["coffee"]
    assert model.decompress(model.compress(x)).shape == x.shape
