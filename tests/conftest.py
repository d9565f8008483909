import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers.datasets import default_images, shared_data_dir


@pytest.fixture(scope="session")
def shared_data():
    root = shared_data_dir()
    if root is None:
        pytest.skip("../shared/data (cbsd68, mcmaster) is not beside this checkout; set NIC_SHARED_DATA to use it")
    return root


@pytest.fixture(scope="module")
def photo():
    """A 100 x 130 crop of an embedded test photo: sides that are not multiples of any model's stride."""
    return default_images("test")["coffee"][:, 50:150, 100:230]


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(0)


def _train_tiny(tmp_path_factory, arch: str, name: str):
    """A 16/24-channel model of ``arch`` trained for 60 steps on the embedded training photos, exported like a
    shipped checkpoint."""
    from helpers.train import TrainConfig, train

    root = tmp_path_factory.mktemp(name)
    cfg = TrainConfig(
        arch=arch,
        model_config={"channels": 16, "latent_channels": 24},
        steps=60,
        batch_size=4,
        patch_size=64,
        lr=1e-3,
        data="default-train",
        run_dir=str(root / "run"),
        export=str(root / f"{name}.pt"),
        name=name,
        save_every_s=1e9,
    )
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


NEW_USER_ENV = ("HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TMPDIR", "TERM", "SHELL")


def new_user_env() -> dict:
    """The environment a new user has in a fresh shell: their PATH (without this venv), HOME, locale; none of the
    variables that ``make test`` or a developer sets (``OMP_NUM_THREADS``, ``MAKEFLAGS``, ``NIC_*``, ...)."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(d for d in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if d != venv_bin)
    return {"PATH": path, **{k: os.environ[k] for k in NEW_USER_ENV if k in os.environ}}


@pytest.fixture(scope="session")
def built_book():
    """The README's main job, once per session, exactly as the README writes it: ``make book`` in the checkout,
    with a new user's environment. Every chapter executes; ``-W`` turns any warning into a failure. Returns the
    finished run and its HTML folder (``_build/html``; CI keeps it and the screenshots)."""
    root = Path(__file__).resolve().parents[1]
    html = root / "_build" / "html"
    shutil.rmtree(html, ignore_errors=True)  # a fresh clone has none: no page or report of an earlier build stays
    run = subprocess.run(["make", "book"], cwd=root, capture_output=True, text=True, env=new_user_env())
    return run, html
