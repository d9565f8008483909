"""The CompressAI peer (bmshj2018-factorized): unchanged network, our trainer, our container, clean failures."""

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

compressai = pytest.importorskip("compressai", reason="the peer needs CompressAI: pip install '.[peers]'")

from conftest import damaged_files  # noqa: E402

from helpers import bitstream as fmt  # noqa: E402
from helpers import checkpoints  # noqa: E402
from helpers.codec import FormatError, api  # noqa: E402
from helpers.models import CompressAIFactorized, FactorizedPrior  # noqa: E402
from helpers.train import PEER, SHIPPED, TrainConfig, fit, optimizers_for, train  # noqa: E402
from helpers.train.plans import FP_CONFIG  # noqa: E402


@pytest.fixture(scope="module")
def peer(tiny_peer):
    return checkpoints.load(tiny_peer)


def test_forward_is_compressais_forward(peer, photo):
    """Our Output carries exactly what CompressAI's own FactorizedPrior.forward returns (eval: dequantized)."""
    x = photo[None, :, :96, :128]
    with torch.no_grad():
        ours, theirs = peer(x), peer.net(x)
    assert isinstance(peer.net, compressai.models.FactorizedPrior)
    assert torch.equal(ours.x_hat, theirs["x_hat"]) and torch.equal(ours.likelihoods, theirs["likelihoods"]["y"])


def test_bytes_decode_to_what_the_model_reconstructs(peer, photo):
    data = peer.compress(photo)
    assert data[:3] == b"NIC" and fmt.unpack(data)[0].model_id == 4
    assert torch.equal(peer.decompress(data), peer.reconstruct(photo))
    assert api.decompress(data, peer).shape == photo.shape
    assert peer.compress(photo) == data  # deterministic


@pytest.mark.parametrize("h, w", [(1, 1), (15, 17), (3, 200)])
def test_any_size(peer, h, w):
    x = torch.rand(3, h, w, generator=torch.Generator().manual_seed(h + w))
    assert peer.decompress(peer.compress(x)).shape == (3, h, w)


def test_checkpoint_keeps_weights_not_tables(peer, tiny_peer, photo):
    """CompressAI's CDF tables are rebuilt from the weights on load, so a reloaded peer decodes the same bytes."""
    ckpt = torch.load(tiny_peer, weights_only=True)
    assert not [k for k in ckpt["state_dict"] if k.endswith(("_quantized_cdf", "_offset", "_cdf_length"))]
    assert ckpt["architecture"] == "CompressAIFactorized" and ckpt["meta"]["steps"] == 60
    data = peer.compress(photo)
    assert torch.equal(checkpoints.load(tiny_peer).decompress(data), peer.decompress(data))


def test_files_of_other_models_or_weights_are_refused(peer, tiny_checkpoint, photo):
    ours = checkpoints.load(tiny_checkpoint)
    with pytest.raises(FormatError, match="FactorizedPrior"):
        peer.decompress(ours.compress(photo))
    with pytest.raises(FormatError, match="CompressAIFactorized"):
        ours.decompress(peer.compress(photo))
    torch.manual_seed(3)
    with pytest.raises(FormatError, match="other weights"):
        CompressAIFactorized(16, 24).eval().decompress(peer.compress(photo))


def test_a_checkpoint_of_another_architecture_is_refused_clearly(tiny_checkpoint, tmp_path):
    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    ckpt["architecture"] = "CompressAIFactorized"
    torch.save(ckpt, tmp_path / "wrong.pt")
    with pytest.raises(checkpoints.CheckpointError, match="does not match CompressAIFactorized"):
        checkpoints.load(tmp_path / "wrong.pt")


def test_damaged_files_fail_with_value_errors(peer, photo):
    for bad in damaged_files(peer.compress(photo), 1200):
        with pytest.raises(ValueError):
            peer.decompress(bad)


def test_forged_payloads_with_a_valid_crc_fail_cleanly(peer, photo):
    """Past our CRC, CompressAI's own decoder meets garbage: random, truncated, flipped and constant payloads give
    a ValueError or a well-formed image, never a crash (it runs in this process: a crash fails the session)."""
    header, payload = fmt.unpack(peer.compress(photo))
    rng = np.random.default_rng(1)
    outcomes = {"error": 0, "image": 0}
    for i in range(1000):
        kind = i % 4
        if kind == 0:
            p = rng.bytes(int(rng.integers(1, 3 * len(payload))))
        elif kind == 1:
            p = payload[: int(rng.integers(1, len(payload)))]
        elif kind == 2:
            arr = bytearray(payload)
            arr[int(rng.integers(0, len(arr)))] ^= 1 << int(rng.integers(0, 8))
            p = bytes(arr)
        else:
            p = bytes([int(rng.integers(0, 256))]) * int(rng.integers(1, 64))
        try:
            x_hat = peer.decompress(fmt.pack(header, p))
        except ValueError:
            outcomes["error"] += 1
            continue
        assert x_hat.shape == photo.shape and torch.isfinite(x_hat).all()
        assert 0 <= x_hat.min() and x_hat.max() <= 1
        outcomes["image"] += 1
    assert outcomes["error"] + outcomes["image"] == 1000
    with pytest.raises(FormatError, match="empty"):
        peer.decompress(fmt.pack(header, b""))


def test_the_trainer_steps_the_quantiles_on_their_own_optimizer():
    """As CompressAI's examples/train.py: the quantiles move only by the aux optimizer, and the aux loss falls."""
    torch.manual_seed(0)
    model = CompressAIFactorized(8, 8)
    opts, _ = optimizers_for(TrainConfig(arch="CompressAIFactorized"), model, "cpu")
    main_ids = {id(p) for g in opts["model"].param_groups for p in g["params"]}
    aux_ids = {id(p) for g in opts["aux"].param_groups for p in g["params"]}
    assert aux_ids == {id(p) for p in model.aux_parameters()} and not main_ids & aux_ids
    assert len(main_ids) + len(aux_ids) == len(list(model.parameters()))
    before, aux_before = model.aux_parameters()[0].detach().clone(), model.aux_loss().item()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    seen = []
    fit(
        model,
        lambda s: x,
        opts["model"],
        start=0,
        steps=30,
        lmbda=0.01,
        lr_at=lambda s: 1e-3,
        on_step=lambda s, parts: seen.append(parts),
        aux_optimizer=opts["aux"],
    )
    assert "aux_loss" in seen[-1] and seen[-1]["aux_loss"] < aux_before
    assert not torch.equal(model.aux_parameters()[0], before)


def test_an_interrupted_peer_run_resumes_to_the_same_weights(tmp_path):
    tiny = TrainConfig(
        arch="CompressAIFactorized",
        model_config={"channels": 8, "latent_channels": 8},
        steps=6,
        batch_size=2,
        patch_size=32,
        data="default-train",
        save_every_s=1e9,
    )
    whole = train(replace(tiny, run_dir=str(tmp_path / "whole"))).model
    train(replace(tiny, run_dir=str(tmp_path / "part"), until_s=1e-9))
    state = torch.load(tmp_path / "part" / "state.pt", weights_only=True)
    assert 0 < state["step"] < tiny.steps and set(state["optimizers"]) == {"model", "aux"}
    resumed = train(replace(tiny, run_dir=str(tmp_path / "part"))).model
    for (k, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


def test_the_peer_plan_is_our_factorized_plan():
    """Same data, batches, steps, learning rates and lambdas as the shipped factorized checkpoints."""
    ours = [c for c in SHIPPED if c.arch == "FactorizedPrior"]
    assert len(PEER) == len(ours) == 5
    keys = ("lmbda", "steps", "batch_size", "patch_size", "lr", "lr_final", "data", "seed", "distortion")
    for a, b in zip(ours, PEER):
        assert b.arch == "CompressAIFactorized" and b.model_config == FP_CONFIG == a.model_config
        assert [getattr(a, k) for k in keys] == [getattr(b, k) for k in keys]
        assert Path(b.export).stem.replace("compressai", "factorized") == Path(a.export).stem
        assert not b.export.startswith("helpers/")  # benchmarks only: the package does not need CompressAI


def test_without_compressai_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "compressai", None)
    with pytest.raises(ImportError, match=r"nic-book\[peers\]"):
        CompressAIFactorized()
    assert FactorizedPrior(8, 8)  # our models never need it


def test_a_compressai_that_fails_to_import_is_an_import_error_with_the_fix(monkeypatch):
    """PyPI's torchvision beside a CPU-only torch makes CompressAI's import raise a RuntimeError."""
    import types

    class Broken(types.ModuleType):
        def __getattr__(self, name):
            raise RuntimeError("operator torchvision::nms does not exist")

    monkeypatch.setitem(sys.modules, "compressai", Broken("compressai"))
    with pytest.raises(ImportError, match="torchvision built for this torch"):
        CompressAIFactorized()
    from helpers.models import compressai_available

    assert not compressai_available()
