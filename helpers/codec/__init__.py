"""The learned codec as a tool: image -> ``.nic`` bytes -> image (``format`` documents the file layout).

``from helpers.codec import compress, decompress`` works; the API is imported lazily because the models
themselves import :mod:`helpers.codec.format`.
"""

from .format import FormatError

__all__ = ["FormatError", "compress", "decompress", "list_models", "load_model"]


def __getattr__(name):
    if name in ("compress", "decompress", "list_models", "load_model"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'helpers.codec' has no attribute {name!r}")
