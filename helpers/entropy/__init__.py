"""Entropy models and coding: a learned factorized density (``density``) and a constriction ANS coder (``coder``)."""

from .coder import decode, encode
from .density import CodingTables, FactorizedDensity, fit_density

__all__ = ["CodingTables", "FactorizedDensity", "decode", "encode", "fit_density"]
