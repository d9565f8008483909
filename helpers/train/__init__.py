"""One training entry point for every learned codec, resumable and seeded: the rate-distortion loss
``lambda * 255^2 * MSE + bpp`` (DDP-ready), and the two stages of the generative codec (DCGAN, then its encoder).

Command line (resumes by itself when ``RUN_DIR/state.pt`` exists)::

    python -m helpers.train --arch FactorizedPrior --lmbda 0.013 --steps 20000 --run-dir runs/fp-q3 \\
        --export helpers/weights/factorized-q3.pt
    torchrun --nproc_per_node 2 -m helpers.train ...          # data-parallel (gloo on CPU, nccl on GPU)
    python -m helpers.train --plan shipped                    # every shipped checkpoint, in order, resumable
    python -m helpers.train --arch GenerativeCodec --stage gan --steps 6000 --run-dir runs/gan --export runs/gan.pt
    python -m helpers.train --arch GenerativeCodec --stage encoder --init-from runs/gan.pt ...   # G frozen

The package: :mod:`.loops` (one step of each kind of run), :mod:`.run` (config, state, resume, export, the
result), :mod:`.plans` (every shipped or measured checkpoint as its runs), ``__main__`` (the command line).

The state file holds the model, the optimizer, the step, the RNG state and the history. Every batch is drawn from
a generator seeded with ``(seed, step, rank)``, so a resumed run sees the batches an uninterrupted one would have.
"""

from .loops import fit, fit_encoder, fit_gan
from .plans import PEER, PLANS, SHIPPED
from .run import STAGES, TrainConfig, TrainResult, optimizers_for, train

__all__ = [
    "PEER",
    "PLANS",
    "SHIPPED",
    "STAGES",
    "TrainConfig",
    "TrainResult",
    "fit",
    "fit_encoder",
    "fit_gan",
    "optimizers_for",
    "train",
]
