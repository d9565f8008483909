import os

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


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A small FactorizedPrior trained for 60 steps on the embedded training photos, exported like a shipped one."""
    from helpers.train import TrainConfig, train

    root = tmp_path_factory.mktemp("tiny")
    cfg = TrainConfig(arch="FactorizedPrior", model_config={"channels": 16, "latent_channels": 24}, steps=60,
                      batch_size=4, patch_size=64, lr=1e-3, data="default-train", run_dir=str(root / "run"),
                      export=str(root / "tiny-fp.pt"), name="tiny-fp", save_every_s=1e9)
    train(cfg, command="pytest fixture")
    return root / "tiny-fp.pt"
