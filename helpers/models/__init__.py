"""Codecs that write ``.nic`` files: Ballé's factorized-prior model, Cheng's convolutional autoencoder, Santurkar's
generative codec (DCGAN generator as decoder) and the overfitted codec (a network trained per image), all on one
:class:`Codec` base; CompressAI's bmshj2018-factorized as a peer to measure them against; and a restoration network
for decoded images."""

from .base import Choice, Codec, LearnedCodec, Option, Output, tiled
from .cae import ConvAutoencoder
from .dcgan import Discriminator, Encoder, GenerativeCodec, GenerativeOutput, Generator
from .factorized_prior import FactorizedPrior
from .overfitted import OverfittedCodec
from .peer import CompressAIFactorized, compressai_available
from .restoration import RecCNN

#: Class for each file-format model id (helpers.bitstream.MODEL_IDS holds the names).
ARCHITECTURES: dict[str, type[Codec]] = {
    "FactorizedPrior": FactorizedPrior,
    "ConvAutoencoder": ConvAutoencoder,
    "GenerativeCodec": GenerativeCodec,
    "CompressAIFactorized": CompressAIFactorized,
    "OverfittedCodec": OverfittedCodec,
}  # the peer: needs [peers]

__all__ = [
    "ARCHITECTURES",
    "Choice",
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
    "OverfittedCodec",
    "RecCNN",
    "compressai_available",
    "tiled",
]
