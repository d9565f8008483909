import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from helpers import checkpoints
from helpers.train import SHIPPED, TrainConfig, train
from helpers.train.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
TINY = TrainConfig(
    arch="ConvAutoencoder",
    model_config={"channels": 16, "latent_channels": 12, "blocks": 1},
    steps=24,
    batch_size=2,
    patch_size=64,
    data="default-train",
    pca_at=0.5,
    save_every_s=1e9,
)


def _weights(model):
    return [v.clone() for v in model.state_dict().values()]


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path):
    whole = train(replace(TINY, run_dir=str(tmp_path / "whole")))
    part = replace(TINY, run_dir=str(tmp_path / "part"), until_s=1e-9)
    stopped = train(part)  # stops after its first step, state saved
    assert 0 < stopped.step < TINY.steps and not stopped.exported and stopped.state_path.exists()
    resumed = train(replace(part, until_s=0.0))
    assert resumed.step == TINY.steps and [h["step"] for h in resumed.history] == [h["step"] for h in whole.history]
    whole, resumed = whole.model, resumed.model
    for a, b in zip(_weights(whole), _weights(resumed)):
        assert torch.equal(a, b)
    assert not torch.equal(resumed.pca_matrix, torch.eye(12))  # the PCA rotation was fitted half-way


def test_a_state_of_another_run_is_refused(tmp_path):
    train(replace(TINY, run_dir=str(tmp_path / "r"), steps=2))
    with pytest.raises(ValueError, match="another run"):
        train(replace(TINY, run_dir=str(tmp_path / "r"), lmbda=0.5))


def test_export_and_warm_start(tmp_path):
    cfg = replace(TINY, run_dir=str(tmp_path / "a"), export=str(tmp_path / "a.pt"), name="tiny-cae")
    train(cfg, command="python -m helpers.train ...")
    m = checkpoints.load(tmp_path / "a.pt")
    assert m.name == "tiny-cae" and m.meta["steps"] == 24 and m.meta["train_seconds"] > 0
    tuned = train(
        replace(
            TINY,
            run_dir=str(tmp_path / "b"),
            steps=4,
            init_from=str(tmp_path / "a.pt"),
            pca_at=-1,
            export=str(tmp_path / "b.pt"),
        )
    ).model
    assert torch.equal(tuned.pca_matrix, m.pca_matrix)  # the rotation comes from the warm start
    meta = checkpoints.load(tmp_path / "b.pt").meta
    assert meta["steps"] == 4 and meta["total_steps"] == 28  # the warm start's budget is counted too
    assert meta["total_train_seconds"] > m.meta["train_seconds"]


def test_cli_runs_one_config(tmp_path):
    main(
        [
            "--arch",
            "FactorizedPrior",
            "--model-config",
            '{"channels": 8, "latent_channels": 8}',
            "--steps",
            "3",
            "--batch-size",
            "2",
            "--patch-size",
            "32",
            "--data",
            "default-train",
            "--run-dir",
            str(tmp_path / "c"),
            "--export",
            str(tmp_path / "c.pt"),
        ]
    )
    m = checkpoints.load(tmp_path / "c.pt")
    assert m.meta["command"].startswith("python -m helpers.train --arch FactorizedPrior")


def test_the_shipped_plan_is_consistent():
    names = [Path(c.export).stem for c in SHIPPED if c.export.startswith("helpers/weights/")]
    assert len(names) >= 8 and len(set(names)) == len(names)
    for c in SHIPPED:
        if c.init_from:
            assert any(b.export == c.init_from for b in SHIPPED), c.run_dir


def test_ddp_with_gloo_on_two_processes(tmp_path):
    """torchrun with 2 CPU processes: both ranks train in lockstep and rank 0 exports."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "helpers.train",
        "--arch",
        "FactorizedPrior",
        "--model-config",
        '{"channels": 8, "latent_channels": 8}',
        "--steps",
        "4",
        "--batch-size",
        "2",
        "--patch-size",
        "32",
        "--data",
        "default-train",
        "--run-dir",
        str(tmp_path / "ddp"),
        "--export",
        str(tmp_path / "ddp.pt"),
        "--threads",
        "1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    m = checkpoints.load(tmp_path / "ddp.pt")
    assert m.meta["world_size"] == 2 and m.meta["batch_size"] == 4
