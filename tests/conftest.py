import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers.data import shared_data_dir

os.environ.setdefault("NIC_NO_PROGRESS", "1")


@pytest.fixture(scope="session")
def shared_data():
    root = shared_data_dir()
    if root is None:
        pytest.skip("../shared/data (cbsd68, mcmaster) is not beside this checkout; set NIC_SHARED_DATA to use it")
    return root


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(0)


def _train_tiny(tmp_path_factory, arch: str, name: str):
    """A 16/24-channel model of ``arch`` trained for 60 steps on the embedded training photos, exported like a
    shipped checkpoint."""
    from helpers.train import TrainConfig, train

    root = tmp_path_factory.mktemp(name)
    cfg = TrainConfig(arch=arch, model_config={"channels": 16, "latent_channels": 24}, steps=60,
                      batch_size=4, patch_size=64, lr=1e-3, data="default-train", run_dir=str(root / "run"),
                      export=str(root / f"{name}.pt"), name=name, save_every_s=1e9)
    train(cfg, command="pytest fixture")
    return root / f"{name}.pt"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A small FactorizedPrior trained for 60 steps on the embedded training photos, exported like a shipped one."""
    return _train_tiny(tmp_path_factory, "FactorizedPrior", "tiny-fp")


@pytest.fixture(scope="session")
def tiny_peer(tmp_path_factory):
    """The CompressAI peer at the tiny fixture's size, trained the same way (skips without CompressAI)."""
    pytest.importorskip("compressai", reason="the peer needs CompressAI: pip install '.[peers]'")
    return _train_tiny(tmp_path_factory, "CompressAIFactorized", "tinypeer-q1")


def damaged_files(data: bytes, n: int, seed: int = 0):
    """``n`` broken versions of a file, in turn: random bytes, a truncation, one flipped bit."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for i in range(n):
        if i % 3 == 0:
            yield rng.bytes(int(rng.integers(0, 200)))
        elif i % 3 == 1:
            yield data[: int(rng.integers(0, len(data)))]
        else:
            arr = bytearray(data)
            arr[int(rng.integers(0, len(arr)))] ^= 1 << int(rng.integers(0, 8))
            yield bytes(arr)


@pytest.fixture(scope="session")
def built_book():
    """The README's main job, once per session: every chapter executed, ``-W`` turning any warning into a failure.
    Returns the finished build and its HTML folder (``_build/test-book``; CI keeps it and the screenshots)."""
    root = Path(__file__).resolve().parents[1]
    out = root / "_build" / "test-book"
    shutil.rmtree(out, ignore_errors=True)
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or "jupyter-book"
    env = {**os.environ, "NIC_QUICK": "1", "NIC_NO_PROGRESS": "1"}
    run = subprocess.run([jb, "build", str(root), "-W", "-n", "--keep-going", "--path-output", str(out)],
                         capture_output=True, text=True, env=env)
    return run, out / "_build" / "html"
