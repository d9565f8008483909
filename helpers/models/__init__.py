"""Learned codecs: Ballé's factorized-prior model and Cheng's convolutional autoencoder, sharing one codec base."""

from .base import LearnedCodec, Output
from .cae import ConvAutoencoder
from .factorized_prior import FactorizedPrior

#: Class for each file-format model id (helpers.codec.format.MODEL_IDS holds the names).
ARCHITECTURES: dict[str, type[LearnedCodec]] = {"FactorizedPrior": FactorizedPrior, "ConvAutoencoder": ConvAutoencoder}

__all__ = ["ARCHITECTURES", "ConvAutoencoder", "FactorizedPrior", "LearnedCodec", "Output"]
