"""Codecs that write ``.nic`` files: Ballé's factorized-prior model, Cheng's convolutional autoencoder and Santurkar's
generative codec (DCGAN generator as decoder), all on one :class:`Codec` base; CompressAI's bmshj2018-factorized as
a peer to measure them against; and a restoration network for decoded images."""

from .base import Codec, LearnedCodec, Option, Output, tiled
from .cae import ConvAutoencoder
from .dcgan import Discriminator, Encoder, GenerativeCodec, GenerativeOutput, Generator
from .factorized_prior import FactorizedPrior
from .peer import CompressAIFactorized, compressai_available
from .restoration import RecCNN

#: Class for each file-format model id (helpers.bitstream.MODEL_IDS holds the names).
ARCHITECTURES: dict[str, type[Codec]] = {
    "FactorizedPrior": FactorizedPrior,
    "ConvAutoencoder": ConvAutoencoder,
    "GenerativeCodec": GenerativeCodec,
    "CompressAIFactorized": CompressAIFactorized,
}  # the peer: needs [peers]

__all__ = [
    "ARCHITECTURES",
    "Codec",
    "CompressAIFactorized",
    "ConvAutoencoder",
    "Discriminator",
    "Encoder",
    "FactorizedPrior",
    "GenerativeCodec",
    "GenerativeOutput",
    "Generator",
    "LearnedCodec",
    "Option",
    "Output",
    "RecCNN",
    "compressai_available",
    "tiled",
]
