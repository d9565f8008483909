"""The training plans: every checkpoint the project ships or measures, as the runs that make it, in order.

One place for the shipped models' configurations, lambdas and budgets; scripts (``benchmarks/``), chapters and the
study read them here. Paths in a plan are relative to the repository's root, where ``python -m helpers.train
--plan ...`` runs (``--root`` runs it from elsewhere): ``train_state/`` holds the resumable runs (committed, so a
later session resumes where one stopped), ``helpers/weights/`` the shipped checkpoints, ``benchmarks/peers/`` the
peer's.
"""

from __future__ import annotations

from .run import TrainConfig

__all__ = [
    "BASE_LMBDA",
    "BASE_STEPS",
    "CAE_CONFIG",
    "ENCODER_STEPS",
    "FP_CONFIG",
    "GAN_STEPS",
    "GEN_CONFIG",
    "LAMBDAS",
    "PEER",
    "PEER_DIR",
    "PLANS",
    "QUANT_STEPS",
    "SHIPPED",
    "STATE_DIR",
    "TUNE_STEPS",
    "rate_points",
    "shipped_plan",
]

# --------------------------------------------------------------------------------------------------------------
# The shipped checkpoints: one plan, run in order, each run resumable. A base run per architecture is trained
# longest at a middle lambda; every rate point then fine-tunes from it (the usual way to save compute).
# --------------------------------------------------------------------------------------------------------------

FP_CONFIG = {"channels": 96, "latent_channels": 128}
CAE_CONFIG = {"channels": 96, "latent_channels": 64, "blocks": 2, "downsamplings": 4}
BASE_LMBDA = 0.013
# Rate points, lowest rate first. The factorized model uses CompressAI's q1-q4 lambdas; at the same lambda the CAE
# spends about half the bits (measured after its base run: 0.29 bpp vs 0.65 bpp at lambda 0.013), so its points
# sit one doubling higher and both curves cover about 0.15-0.8 bpp, JPEG's useful low-rate range.
LAMBDAS = {
    "factorized": {"q1": 0.0018, "q2": 0.0035, "q3": 0.0067, "q4": 0.013},
    "cae": {"q1": 0.0067, "q2": 0.013, "q3": 0.025, "q4": 0.05},
}
BASE_STEPS = 20000
# fine-tune steps per rate point: about 25 CPU minutes each (a factorized step costs ~1.5x a CAE step)
TUNE_STEPS = {"factorized": 3000, "cae": 4000}
STATE_DIR = "train_state"  # committed, so a later session resumes where this one stopped


def rate_points(short: str, arch: str, conf: dict, lambdas: dict, steps: int, export_dir: str) -> list[TrainConfig]:
    """A base run at BASE_LMBDA, then one fine-tune from it per rate point."""
    base = f"{STATE_DIR}/{short}-base/final.pt"
    plan = [
        TrainConfig(
            arch=arch,
            model_config=conf,
            lmbda=BASE_LMBDA,
            steps=BASE_STEPS,
            lr=2e-4,
            run_dir=f"{STATE_DIR}/{short}-base",
            export=base,
            name=f"{short}-base",
        )
    ]
    for q, lmbda in lambdas.items():
        plan.append(
            TrainConfig(
                arch=arch,
                model_config=conf,
                lmbda=lmbda,
                steps=steps,
                lr=1e-4,
                run_dir=f"{STATE_DIR}/{short}-{q}",
                export=f"{export_dir}/{short}-{q}.pt",
                name=f"{short}-{q}",
                init_from=base,
                pca_at=-1.0,
            )
        )
    return plan


GEN_CONFIG = {"latent_dim": 64, "channels": 64, "size": 32, "bits": 3}
# measured on one CPU thread beside other jobs: 56, 24 and 8 minutes
GAN_STEPS = 8000
ENCODER_STEPS = 6000
QUANT_STEPS = 3000  # quantization-aware fine-tune of the encoder


def shipped_plan() -> list[TrainConfig]:
    """Every shipped checkpoint, in the order they train: each base run, its rate points, the generative codec."""
    plan = []
    for short, arch, conf in [("factorized", "FactorizedPrior", FP_CONFIG), ("cae", "ConvAutoencoder", CAE_CONFIG)]:
        plan += rate_points(short, arch, conf, LAMBDAS[short], TUNE_STEPS[short], "helpers/weights")
    # the generative codec (Santurkar et al. 2018): a DCGAN on 32x32 tiles, then its encoder with G frozen
    gan = f"{STATE_DIR}/generative-gan/final.pt"
    plan.append(
        TrainConfig(
            arch="GenerativeCodec",
            model_config=GEN_CONFIG,
            stage="gan",
            steps=GAN_STEPS,
            batch_size=64,
            lr=2e-4,
            lr_final=2e-4,
            run_dir=f"{STATE_DIR}/generative-gan",
            export=gan,
            name="generative-gan",
        )
    )
    encoder = f"{STATE_DIR}/generative-encoder/final.pt"
    plan.append(
        TrainConfig(
            arch="GenerativeCodec",
            model_config=GEN_CONFIG,
            stage="encoder",
            steps=ENCODER_STEPS,
            batch_size=64,
            lr=5e-4,
            lr_final=1e-5,
            run_dir=f"{STATE_DIR}/generative-encoder",
            export=encoder,
            name="generative-encoder",
            init_from=gan,
        )
    )
    # then through the real quantizer: the first encoder put 6.5 % of its numbers beyond +-2.5, where the CDF bins
    # clip them (measured: -2 dB even at 8 bits), and learned no tolerance to coarse bins
    plan.append(
        TrainConfig(
            arch="GenerativeCodec",
            model_config=GEN_CONFIG,
            stage="encoder",
            steps=QUANT_STEPS,
            batch_size=64,
            lr=1e-4,
            lr_final=1e-5,
            latent_bits=4,
            run_dir=f"{STATE_DIR}/generative",
            export="helpers/weights/generative.pt",
            name="generative",
            init_from=encoder,
        )
    )
    return plan


SHIPPED = shipped_plan()
#: The peer (benchmarks, not shipped in the package): CompressAI's bmshj2018-factorized at our factorized model's
#: size, trained exactly as our factorized checkpoints were (data, batches, steps, lambdas, learning rates).
PEER_DIR = "benchmarks/peers"
PEER = rate_points(
    "compressai", "CompressAIFactorized", FP_CONFIG, LAMBDAS["factorized"], TUNE_STEPS["factorized"], PEER_DIR
)
PLANS = {"shipped": SHIPPED, "peer": PEER}
