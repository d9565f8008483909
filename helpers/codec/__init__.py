"""The learned codec as a tool: image -> ``.nic`` bytes -> image, in Python (``compress``, ``decompress``) and on
the command line (``nic``, :mod:`helpers.codec.cli`). The file layout is :mod:`helpers.bitstream`."""

from ..bitstream import FormatError
from .api import DEFAULT_MODEL, compress, decode_file, decompress, encode_file, list_models, load_model

__all__ = [
    "DEFAULT_MODEL",
    "FormatError",
    "compress",
    "decode_file",
    "decompress",
    "encode_file",
    "list_models",
    "load_model",
]
