"""Command line of the learned codec: ``python -m helpers.codec`` (also installed as ``nic``).

nic list                              one shipped model / rate point per line
nic encode photo.png photo.nic --model factorized-q3
nic encode photo.png photo.nic --model generative --bits 2     (bits per latent dimension)
nic encode photo.png photo.nic --model overfitted --quality 4 --effort default   (a network per image: minutes)
nic decode photo.nic photo-decoded.png
nic eval [--images default] [--models factorized-q3 cae-q3] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import sys
import warnings

from .. import bitstream as fmt
from .. import checkpoints
from . import api


def _eval(args) -> None:
    from ..datasets import load_images
    from ..evaluate import LearnedFamily, rd_sweep
    from ..rd import rd_curve

    names = args.models or checkpoints.available()  # the overfitted codec takes minutes per image: ask for it
    if not names:
        raise FileNotFoundError("no shipped models to evaluate")
    rows = rd_sweep(load_images(args.images), LearnedFamily.group(names), show_progress=False)
    if args.csv:
        rows.to_csv(args.csv, index=False)
    curve = rd_curve(rows)[["codec", "setting", "bpp", "psnr", "ms_ssim", "encode_s", "decode_s"]]
    print(curve.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="nic", description="Learned image codec of the nic-book (.nic files).")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="shipped models, one per line")
    e = sub.add_parser("encode", help="image file -> .nic file")
    e.add_argument("input")
    e.add_argument("output")
    e.add_argument(
        "--model", default=None, help=f"shipped model name (see `list`; default {api.DEFAULT_MODEL}) or checkpoint path"
    )
    e.add_argument("--bits", type=int, default=None, help="generative models: bits per latent dimension (1-8)")
    e.add_argument("--quality", type=int, default=None, help="overfitted: 1 (smallest file) .. 8 (best image); 4")
    e.add_argument("--effort", default=None, help="overfitted: fast, default or best (encode time)")
    e.add_argument("--device", default="cpu", help="overfitted: where the encoder trains (cpu, cuda, auto)")
    e.add_argument("--max-pixels", type=int, default=None, help=f"refuse larger images (default {fmt.MAX_PIXELS:,})")
    d = sub.add_parser("decode", help=".nic file -> PNG file")
    d.add_argument("input")
    d.add_argument("output")
    d.add_argument("--model", default=None, help="checkpoint path, for files written by a model that is not shipped")
    d.add_argument("--max-pixels", type=int, default=fmt.MAX_PIXELS, help="refuse files that claim larger images")
    v = sub.add_parser("eval", help="rate and quality of shipped models on an image set")
    v.add_argument("--images", default="default", help="default, cbsd68, mcmaster, kodak or a folder")
    v.add_argument("--models", nargs="*", default=None)
    v.add_argument("--csv", default=None, help="also write one row per image and model")
    args = p.parse_args(argv)
    where = getattr(args, "input", None)
    try:
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always", UserWarning)
            if args.command == "list":
                print("\n".join(api.list_models()))
            elif args.command == "encode":
                given = {"bits": args.bits, "quality": args.quality, "effort": args.effort}
                options = {k: v for k, v in given.items() if v is not None}
                n = api.encode_file(args.input, args.output, args.model, args.max_pixels, args.device, **options)
                print(f"{args.output}: {n} bytes")
            elif args.command == "decode":
                h, w = api.decode_file(args.input, args.output, args.model, args.max_pixels)
                print(f"{args.output}: {w}x{h} PNG")
            else:
                _eval(args)
        for note in notes:
            print(f"nic: note: {note.message}", file=sys.stderr)
    except fmt.FormatError as err:
        print(f"nic: {where}: bad file: {_line(err)}", file=sys.stderr)
        return 2
    except (ValueError, OSError, MemoryError, RuntimeError) as err:  # one line that names the path, no traceback
        print(f"nic: {where or args.command}: {_line(err)}", file=sys.stderr)
        return 2
    except Exception as err:  # a bug of ours: still one line, and the exit status says it is not the input's fault
        print(f"nic: internal error ({type(err).__name__}): {_line(err)}; please report it", file=sys.stderr)
        return 3
    return 0


def _line(err: BaseException) -> str:
    """An error as one line: its message, whitespace folded, at most 300 characters."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."


if __name__ == "__main__":
    sys.exit(main())
