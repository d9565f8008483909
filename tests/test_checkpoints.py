from pathlib import Path

import pytest
import torch

from helpers import checkpoints
from helpers.checkpoints import CheckpointError


def test_roundtrip_keeps_config_name_and_meta(tiny_checkpoint):
    m = checkpoints.load(tiny_checkpoint)
    assert type(m).__name__ == "FactorizedPrior" and m.config == {"channels": 16, "latent_channels": 24}
    assert m.name == "tiny-fp" and not m.training
    assert m.meta["steps"] == 60 and m.meta["lambda"] == 0.013 and m.meta["data"] == "default-train"
    assert "pytest fixture" in m.meta["command"]
    raw = torch.load(tiny_checkpoint, weights_only=True)
    assert any(v.dtype == torch.float16 for v in raw["state_dict"].values())  # large tensors stored compactly


def test_export_load_export_is_stable(tiny_checkpoint, tmp_path):
    m = checkpoints.load(tiny_checkpoint)
    again = checkpoints.export(m, tmp_path / "again.pt", m.name, m.meta)
    m2 = checkpoints.load(again)
    for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k


def test_bad_checkpoints_are_refused_clearly(tiny_checkpoint, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"definitely not a zip")
    with pytest.raises(CheckpointError, match="not a loadable"):
        checkpoints.load(junk)

    class Evil:
        def __reduce__(self):
            return (print, ("arbitrary code",))

    evil = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, evil)
    with pytest.raises(CheckpointError, match="not a loadable"):  # weights_only=True refuses pickled code
        checkpoints.load(evil)

    raw = torch.load(tiny_checkpoint, weights_only=True)
    for change, message in [
        ({"format": "something-else"}, "not a nic-book checkpoint"),
        ({"version": 99}, "version 99"),
        ({"architecture": "Transformer"}, "unknown architecture"),
        ({"config": {"channels": 32, "latent_channels": 24}}, "does not match"),
        ({"config": {"widths": 3}}, "does not match"),
    ]:
        path = tmp_path / "changed.pt"
        torch.save({**raw, **change}, path)
        with pytest.raises(CheckpointError, match=message):
            checkpoints.load(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        checkpoints.load("no-such-model")


def test_budget_reports_the_metadata(tiny_checkpoint):
    table = checkpoints.budget([tiny_checkpoint])
    row = table.loc["tiny-fp"]
    assert row["steps"] == 60 and row["total steps"] == 60 and row["data"] == "default-train"
    assert 0 < row["train hours"] < 1


def _stored_checkpoints():
    root = Path(__file__).resolve().parents[1]
    return sorted((root / "helpers" / "weights").glob("*.pt")) + sorted((root / "benchmarks" / "peers").glob("*.pt"))


@pytest.mark.parametrize("path", _stored_checkpoints(), ids=lambda p: p.stem)
def test_stored_coding_tables_are_the_ones_its_weights_give(path):
    """Each checkpoint carries its integer coding tables and decoders use them as they are (no float evaluation at
    load time); they must be exactly what its stored weights derive, here, or files would not match."""
    from helpers.models import ARCHITECTURES

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt["architecture"] == "CompressAIFactorized":
        pytest.importorskip("compressai", reason="the peer needs CompressAI")
    stored = checkpoints.load(path)
    derived = ARCHITECTURES[ckpt["architecture"]](**ckpt["config"])
    derived.load_state_dict(stored.state_dict())  # weights only: tables derived from them
    assert derived.fingerprint() == stored.fingerprint()
    assert ("tables" in ckpt) == (stored.tables_state() is not None)  # every codec with float-derived tables


def test_export_freezes_the_tables_of_the_weights_as_stored(tiny_checkpoint, tmp_path):
    ckpt = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    assert set(ckpt["tables"]) == {"offsets", "freqs", "precision"}
    model = checkpoints.load(tiny_checkpoint)
    with torch.no_grad():
        model.density.matrices[0].add_(0.1)  # other weights: the frozen tables no longer apply
    assert model.fingerprint() != checkpoints.load(tiny_checkpoint).fingerprint()


@pytest.mark.parametrize(
    "change",
    [
        {"state_dict": [1, 2, 3]},
        {"state_dict": {"density.matrices.0": 3}},
        {"name": None},
        {"name": 7},
        {"name": "x" * 300},
        {"config": [1]},
        {"meta": "no"},
        {"architecture": ["FactorizedPrior"]},
        {"tables": {"offsets": 1}},
    ],
    ids=lambda c: ", ".join(f"{k}={str(v)[:12]}" for k, v in c.items()),
)
def test_crafted_checkpoints_that_torch_accepts_are_refused_in_one_line(tiny_checkpoint, tmp_path, change):
    ckpt = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    ckpt.update(change)
    path = tmp_path / "crafted.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match=r"crafted\.pt"):
        checkpoints.load(path)
