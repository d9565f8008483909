"""Entropy models and coding: a learned factorized density (``density``) and a constriction ANS coder (``coder``)."""

from .coder import decode, encode
from .density import CodingTables, FactorizedDensity

__all__ = ["CodingTables", "FactorizedDensity", "decode", "encode"]
