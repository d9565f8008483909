"""Shared code of the book *Neural image compression and restoration*, and a working learned image codec.

The chapters explain; this package holds everything they reuse. ``ARCHITECTURE.md`` in the repository draws its
layers; in short: images and image sets (:mod:`helpers.images`, :mod:`helpers.datasets`), quality metrics and
losses (:mod:`helpers.metrics`, :mod:`helpers.losses`), the ``.nic`` container (:mod:`helpers.bitstream`), entropy
models and coders (:mod:`helpers.entropy`), the models (:mod:`helpers.models`), classical codecs through Pillow
(:mod:`helpers.classical`), rate-distortion sweeps and BD-rate (:mod:`helpers.evaluate`, :mod:`helpers.rd`),
training (:mod:`helpers.train`), the codec as a tool (:mod:`helpers.codec`, the ``nic`` command) and the chapters'
display helpers (:mod:`helpers.notebook`).
"""

__version__ = "0.1.0"
