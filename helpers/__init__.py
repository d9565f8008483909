"""Shared code of the book *Neural image compression and restoration*.

The chapters explain; this package holds everything they reuse: data (:mod:`helpers.data`), quality metrics
(:mod:`helpers.metrics`), classical codecs measured through Pillow (:mod:`helpers.codecs`), rate-distortion
tools such as BD-rate (:mod:`helpers.rd`) and small utilities for the notebooks (:mod:`helpers.notebook`).
"""

__version__ = "0.1.0"
