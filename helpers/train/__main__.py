"""``python -m helpers.train``: one run from flags, or every run of a plan (see :mod:`helpers.train`)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import fields
from pathlib import Path

from .plans import PLANS
from .run import TrainConfig, train

__all__ = ["main"]


def _parse(argv: list[str]) -> argparse.Namespace:
    from . import __doc__ as doc

    p = argparse.ArgumentParser(prog="python -m helpers.train", description=doc.split("\n\n")[0])
    p.add_argument(
        "--plan",
        choices=list(PLANS),
        help="run every run of a plan, in order: the shipped checkpoints, or the CompressAI peer's (needs [peers])",
    )
    p.add_argument("--only", default="", help="with --plan: comma-separated run names (e.g. factorized-base)")
    p.add_argument("--root", default=".", help="with --plan: the repository root its paths are relative to")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "model_config":
            p.add_argument(flag, type=json.loads, default=None, help="JSON dict of constructor arguments")
        else:
            p.add_argument(flag, type=type(f.default), default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = _parse(argv)
    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
    command = "python -m helpers.train " + " ".join(shlex.quote(a) for a in argv)
    if args.plan:
        os.chdir(args.root)
        only = {s for s in args.only.split(",") if s}
        t0 = time.time()
        for cfg in PLANS[args.plan]:
            if only and Path(cfg.run_dir).name not in only:
                continue
            if Path(cfg.export).exists():
                continue
            for k in ("until_s", "threads", "device", "save_every_s"):
                if k in overrides:
                    setattr(cfg, k, overrides[k])
            if cfg.until_s:
                cfg.until_s = overrides["until_s"] - (time.time() - t0)
                if cfg.until_s <= 0:
                    break
            train(cfg, command)
            if not Path(cfg.export).exists():
                break  # stopped by the time limit: the next run needs this one
        return
    train(TrainConfig(**overrides), command)


if __name__ == "__main__":
    main()
