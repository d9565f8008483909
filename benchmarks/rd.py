"""Rate-distortion of every shipped learned model, the CompressAI peer and every classical codec (JPEG XL included
when imagecodecs is installed), from real file bytes.

    python benchmarks/rd.py                                  # embedded test photos, plus cbsd68/mcmaster if present
    python benchmarks/rd.py --images default cbsd68 --out benchmarks/results
    python benchmarks/rd.py --images /path/to/photos --models factorized-q1 factorized-q2 --codecs JPEG WebP
    python benchmarks/rd.py --peers                          # without the peer

For each image set it writes, into ``--out``:

* ``rd-SET.csv``: one row per (codec, setting, image): bytes, bpp, PSNR, SSIM, MS-SSIM, encode/decode seconds;
* ``rd-SET.png``: PSNR and MS-SSIM (dB) against bpp;
* ``rd-SET.md``: BD-rate tables against JPEG and against WebP, and the training budget of each learned model;
  with the peer, BD-rate ours vs theirs and the encode/decode speed ratio, from the same files of the same run;
* ``summary.md``: every ``rd-*.csv`` in ``--out`` in one table (BD-rate against JPEG per set, ours against the peer).
  When ``--out`` is the committed ``benchmarks/results``, the same text replaces the block between the
  ``<!-- rd-summary -->`` markers of README.md, so its "How good is it?" never drifts from the measurements.
  ``--summary-only`` rebuilds both from the CSVs already there, without measuring anything.

The peer is CompressAI's bmshj2018-factorized (``helpers.models.peer``), trained by our trainer with our factorized
model's data, steps and lambdas (``python -m helpers.train --plan peer``, into ``benchmarks/peers/``). It is
included when those checkpoints exist and CompressAI is installed (``pip install 'nic-book[peers]'``).

bpp is always ``8 * len(file) / pixels``. A set that a model was trained on is flagged in its report. Every learned
checkpoint codes one small image before the sweep, so no timing includes loading weights or building tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import torch

from helpers import checkpoints
from helpers.classical import classical_codecs
from helpers.codec import load_model
from helpers.datasets import DatasetUnavailable, load_images
from helpers.evaluate import LearnedFamily, rd_sweep
from helpers.models import compressai_available
from helpers.rd import bd_rate_table, plot_rd, rd_curve
from helpers.train.plans import PEER, PEER_DIR

sys.path.insert(0, str(Path(__file__).resolve().parent))
from readme_block import write_block

ANCHORS = ("JPEG", "WebP")
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
README_KEY = "rd-summary"
OURS = "factorized"  # the family the peer is the same architecture as
PEER_NAME = Path(PEER[-1].export).stem.rsplit("-", 1)[0]  # "compressai"
#: the rows of the summary, in this order (codecs not named here follow, sorted); the anchor itself is left out
LABELS = {
    "factorized": "factorized prior (Ballé et al. 2018), ours",
    "cae": "CAE (Cheng et al. 2018), ours",
    "generative": "generative (Santurkar et al. 2018), ours",
    PEER_NAME: "CompressAI bmshj2018-factorized, the peer (same size, data, steps, λ)",
    "WebP": "WebP",
    "JPEG 2000": "JPEG 2000",
    "AVIF": "AVIF",
    "JPEG XL": "JPEG XL (libjxl via imagecodecs)",
}
SET_ORDER = ("default", "cbsd68", "mcmaster")


def peer_checkpoints() -> list[str]:
    """The peer plan's finished checkpoints (``benchmarks/peers/compressai-q*.pt``), relative to here if inside."""
    paths = [ROOT / c.export for c in PEER if c.export.startswith(PEER_DIR) and (ROOT / c.export).exists()]
    return [str(p.relative_to(Path.cwd()) if p.is_relative_to(Path.cwd()) else p) for p in paths]


def warm_up(fams) -> None:
    """Load every learned checkpoint and code one small image: timings then measure coding alone."""
    x = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    for fam in fams:
        for setting in fam.settings:
            fam.decompress(fam.compress(x, setting))


def trained_on(tag: str, names) -> list[str]:
    """The checkpoints among ``names`` whose training data included the image set ``tag``."""
    same = {"default": "default-test"}.get(tag, tag)  # the embedded test photos are a split of their own
    return sorted(
        {
            Path(str(n)).stem
            for n in names
            if same in {s.strip() for s in str(load_model(str(n)).meta.get("data", "")).split(",")}
        }
    )


def speed_table(rows: pd.DataFrame, codecs) -> pd.DataFrame:
    """Encode/decode Mpixel/s of ``codecs`` over all their rows: sum of pixels / sum of seconds."""
    rows = rows[rows.codec.isin(codecs)]
    pixels = rows.groupby("codec").apply(lambda r: (8 * r.bytes / r.bpp).sum(), include_groups=False) / 1e6
    speed = pd.DataFrame(
        {
            "encode Mpixel/s": pixels / rows.groupby("codec").encode_s.sum(),
            "decode Mpixel/s": pixels / rows.groupby("codec").decode_s.sum(),
        }
    )
    return speed.loc[list(codecs)]


def peer_report(rows: pd.DataFrame, curves: pd.DataFrame, peers, ours) -> list[str]:
    """BD-rate of our families against the peer, their rate points side by side, and the speed ratio."""
    peer = peers[0].name
    lines = [
        f"## Against the peer: CompressAI bmshj2018-factorized (`{peer}`)",
        "",
        "Trained by the same trainer with our factorized model's data, batches, steps and lambdas; coded by "
        "CompressAI's own entropy bottleneck and rANS coder into the same `.nic` container (same header "
        "bytes). Negative BD-rate: ours needs fewer bytes than the peer for the same quality.",
        "",
    ]
    compared = curves[curves.codec.isin([peer, *[f.name for f in ours]])]
    if len(ours):
        lines += [bd_rate_table(compared, anchor=peer).to_markdown(floatfmt=".1f"), ""]
    # rate points side by side, where the two were trained at the same lambda
    pts = compared.assign(
        point=compared.setting.map(lambda s: Path(str(s)).stem.rsplit("-", 1)[-1]),
        lmbda=compared.setting.map(lambda s: load_model(str(s)).meta.get("lambda")),
    )
    side = pts.pivot_table(index=["point", "lmbda"], columns="codec", values=["bpp", "psnr", "ms_ssim_db"])
    side = side[side.xs(peer, axis=1, level="codec").notna().all(axis=1)].dropna(axis=1)  # the peer's lambdas only
    side.columns = [f"{codec} {metric}" for metric, codec in side.columns]
    side = side[sorted(side.columns, key=lambda c: (c.split(" ")[0] != peer, c))].rename_axis(["point", "λ"])
    lines += [side.reset_index().to_markdown(index=False, floatfmt=".4g"), ""]
    speed = speed_table(rows, [peer, *[f.name for f in ours]])
    ratio = speed / speed.loc[peer]
    table = speed.join(ratio.add_suffix(" vs peer"))
    lines += [
        "Speed over the same files in this run (sum of pixels / sum of seconds, one process; above 1: ours is faster):",
        "",
        table.to_markdown(floatfmt=".2f"),
        "",
    ]
    return lines


def run_set(source: str, codecs, fams, out: Path, quick: bool, peers=()) -> str:
    images = load_images(source)
    tag = Path(source).name if Path(source).is_dir() else source
    t0 = time.time()
    warm_up([*fams, *peers])
    rows = rd_sweep(images, codecs + fams + list(peers), quick=quick)
    rows.to_csv(out / f"rd-{tag}.csv", index=False)
    curves = rd_curve(rows)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    plot_rd(curves, "psnr", ax=axes[0], title=f"{tag}: {len(images)} images")
    plot_rd(curves, "ms_ssim_db", ax=axes[1])
    for ax in axes:
        ax.set_xlim(0, 1.6)
    fig.tight_layout()
    fig.savefig(out / f"rd-{tag}.png", dpi=110)
    plt.close(fig)

    pixels = sum(x.shape[-1] * x.shape[-2] for x in images.values())
    lines = [f"# Rate-distortion on `{tag}` ({len(images)} images, {pixels / 1e6:.2f} Mpixels)", ""]
    fit = trained_on(tag, [n for f in [*fams, *peers] for n in f.checkpoints])
    if fit:
        lines += [f"**Not held out:** {', '.join(fit)} trained on this set; read its numbers as training fit.", ""]
    lines += [
        "bpp from file bytes; PSNR on 8-bit RGB; BD-rate: cubic fit over the shared quality range "
        "(negative = fewer bytes than the anchor for the same quality).",
        "",
    ]
    for anchor in ANCHORS:
        if anchor in set(curves.codec):
            table = bd_rate_table(curves, anchor=anchor)
            lines += [f"## BD-rate against {anchor}", "", table.to_markdown(floatfmt=".1f"), ""]
    if peers:
        lines += peer_report(rows, curves, peers, [f for f in fams if f.option is None])
    learned = curves[curves.codec.isin([f.name for f in [*fams, *peers]])]
    if len(learned):
        lines += [
            "## Learned models: rate points",
            "",
            learned[["codec", "setting", "bpp", "psnr", "ms_ssim_db", "encode_s", "decode_s"]]
            .set_index("setting")
            .to_markdown(floatfmt=".3f"),
            "",
            "## Training budget (warm starts included)",
            "",
            checkpoints.budget(n for f in [*fams, *peers] for n in f.checkpoints).to_markdown(floatfmt=".4g"),
            "",
        ]
    lines += [
        f"Measured in {time.time() - t0:.0f} s with torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; `python benchmarks/rd.py {' '.join(sys.argv[1:])}`.",
        "",
    ]
    report = "\n".join(lines)
    (out / f"rd-{tag}.md").write_text(report)
    meta = {
        "images": len(images),
        "mpixels": round(pixels / 1e6, 3),
        "quick": quick,
        "trained_on": fit,
        "command": f"python benchmarks/rd.py {' '.join(sys.argv[1:])}".strip(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "seconds": round(time.time() - t0),
    }
    (out / f"rd-{tag}.json").write_text(json.dumps(meta, indent=1) + "\n")
    return report


def _percent(v: float) -> str:
    return "no overlap" if pd.isna(v) else f"{v:+.1f} %"


def summary(out: Path, link: str = "") -> str:
    """One markdown text from every ``rd-SET.csv`` (and its ``.json``) in ``out``: BD-rate against JPEG on each
    set, ours against the peer, and the RD plots (``link`` prefixes their file names). Nothing is measured."""
    tags = sorted(
        (p.stem[3:] for p in out.glob("rd-*.csv")),
        key=lambda t: (SET_ORDER.index(t) if t in SET_ORDER else len(SET_ORDER), t),
    )
    if not tags:
        raise FileNotFoundError(f"no rd-*.csv in {out}: run benchmarks/rd.py first")
    table, vs_peer, notes = {}, [], {}
    for tag in tags:
        rows = pd.read_csv(out / f"rd-{tag}.csv")
        meta = json.loads((out / f"rd-{tag}.json").read_text()) if (out / f"rd-{tag}.json").exists() else {}
        head = f"{tag} ({meta['images']})" if "images" in meta else tag
        if meta.get("trained_on"):
            head += " †"
            notes["†"] = "† the learned models trained on this set: training fit, not held out."
        if meta.get("quick"):
            head += " ‡"
            notes["‡"] = "‡ the classical codecs' shorter `--quick` sweeps."
        curves = rd_curve(rows)
        if "JPEG" in set(curves.codec):
            with warnings.catch_warnings():  # a curve with no overlap is written as such below
                warnings.simplefilter("ignore", UserWarning)
                bd = bd_rate_table(curves, anchor="JPEG")
            for codec, r in bd.drop(index="JPEG").iterrows():
                table.setdefault(codec, {})[f"{head} PSNR"] = _percent(r.iloc[0])
                table.setdefault(codec, {})[f"{head} MS-SSIM"] = _percent(r.iloc[1])
        if {OURS, PEER_NAME} <= set(curves.codec):
            bd = bd_rate_table(curves[curves.codec.isin([OURS, PEER_NAME])], anchor=PEER_NAME).loc[OURS]
            speed = speed_table(rows, [OURS, PEER_NAME])
            ratio = speed.loc[OURS] / speed.loc[PEER_NAME]
            vs_peer.append(
                {
                    "set": head,
                    "BD-rate PSNR": _percent(bd.iloc[0]),
                    "BD-rate MS-SSIM": _percent(bd.iloc[1]),
                    "encode speed, ours / peer": f"{ratio.iloc[0]:.2f}",
                    "decode speed, ours / peer": f"{ratio.iloc[1]:.2f}",
                }
            )
    order = [c for c in LABELS if c in table] + sorted(c for c in table if c not in LABELS)
    frame = pd.DataFrame(table).T.loc[order].fillna("not measured")
    frame.index = [LABELS.get(c, c) for c in frame.index]
    lines = [
        "BD-rate against Pillow's JPEG (`optimize=True`, 4:2:0), from real file bytes, PSNR and MS-SSIM (dB) on "
        "8-bit RGB. Negative: fewer bytes than JPEG for the same quality. Sets: the embedded test photos "
        "(`default`), CBSD68 and McMaster (`../shared/data`), image counts in brackets.",
        "",
        frame.rename_axis("codec").to_markdown(),
        "",
    ]
    lines += [" ".join([*notes.values(), "'no overlap': the curve shares no quality range with JPEG's."]), ""]
    if vs_peer:
        lines += [
            "Ours (`factorized`) against the peer (`compressai`): BD-rate with the peer as anchor (negative: ours "
            "needs fewer bytes), and speed over the same files in the same run (above 1: ours is faster).",
            "",
            pd.DataFrame(vs_peer).to_markdown(index=False),
            "",
        ]
    for tag in tags:
        if (out / f"rd-{tag}.png").exists():
            lines += [f"![Rate-distortion on {tag}]({link}rd-{tag}.png)", ""]
    return "\n".join(lines)


def write_summary(out: Path, readme: Path | None) -> str:
    """Write ``out/summary.md``; with ``readme``, also replace the text between its ``rd-summary`` markers."""
    text = summary(out)
    (out / "summary.md").write_text("# Rate-distortion: every set\n\n" + text)
    if readme is not None:
        write_block(
            readme,
            README_KEY,
            summary(out, link=f"{out.resolve().relative_to(readme.resolve().parent)}/"),
            "python benchmarks/rd.py",
        )
    return text


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--images",
        nargs="*",
        default=["default", "cbsd68", "mcmaster"],
        help="image sets: default, cbsd68, mcmaster, kodak or folders (absent shared sets are skipped)",
    )
    p.add_argument("--models", nargs="*", default=None, help="learned checkpoints (default: every shipped one)")
    p.add_argument(
        "--codecs",
        nargs="*",
        default=None,
        help="classical codecs (default: JPEG, JPEG 2000, WebP, AVIF, and JPEG XL if installed)",
    )
    p.add_argument(
        "--peers",
        nargs="*",
        default=None,
        help="the peer's checkpoints (default: benchmarks/peers/compressai-q*.pt when they exist and "
        "CompressAI is installed; --peers alone: no peer)",
    )
    p.add_argument("--quick", action="store_true", help="the classical codecs' shorter quick sweeps")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument(
        "--summary-only",
        action="store_true",
        help="measure nothing: rebuild summary.md (and the README block) from the rd-*.csv in --out",
    )
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    readme = README if out.resolve() == RESULTS else None  # only the committed results speak for the README
    if args.summary_only:
        print(write_summary(out, readme))
        return
    codecs = classical_codecs(args.codecs or "all")  # JPEG XL too, where imagecodecs is installed
    fams = LearnedFamily.group(args.models) if args.models else LearnedFamily.shipped()
    if not fams:
        print("no shipped learned models: measuring the classical codecs only", file=sys.stderr)
    peers = []
    names = peer_checkpoints() if args.peers is None else args.peers
    if names and not compressai_available():
        print("CompressAI is not installed (pip install 'nic-book[peers]'): no peer", file=sys.stderr)
    elif names:
        peers = LearnedFamily.group(names)
    for source in args.images:
        try:
            print(run_set(source, codecs, fams, out, args.quick, peers))
        except DatasetUnavailable as err:
            print(f"skipping {source}: {err}", file=sys.stderr)
    print(write_summary(out, readme))


if __name__ == "__main__":
    main()
