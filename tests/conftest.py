import os

import pytest
import torch

from helpers.data import shared_data_dir

os.environ.setdefault("NIC_NO_PROGRESS", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def shared_data():
    root = shared_data_dir()
    if root is None:
        pytest.skip("../shared/data (cbsd68, mcmaster) is not beside this checkout; set NIC_SHARED_DATA to use it")
    return root


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(0)
