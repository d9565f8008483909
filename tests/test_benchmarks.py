"""The benchmark scripts run end to end on small inputs and write what they promise (numbers: benchmarks/results)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from helpers.classical import OPTIONAL
from helpers.datasets import default_images

ROOT = Path(__file__).resolve().parents[1]


def _run(*args):
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r.stdout


def test_rd_benchmark_writes_csv_plot_and_bd_tables(tiny_checkpoint, tmp_path):
    out = _run(
        "benchmarks/rd.py",
        "--images",
        "default",
        "--codecs",
        "JPEG",
        "WebP",
        "--quick",
        "--models",
        str(tiny_checkpoint),
        "--peers",
        "--out",
        str(tmp_path),
    )  # the committed peers: not here
    rows = pd.read_csv(tmp_path / "rd-default.csv")
    assert set(rows.codec) == {"JPEG", "WebP", "tiny"}
    pixels = rows.image.map({k: x.shape[1] * x.shape[2] for k, x in default_images("test").items()})
    assert (rows.bytes > 0).all() and ((rows.bpp - 8 * rows.bytes / pixels).abs() < 1e-9).all()
    assert (tmp_path / "rd-default.png").stat().st_size > 10_000
    report = (tmp_path / "rd-default.md").read_text()
    assert "## BD-rate against JPEG" in report and "## BD-rate against WebP" in report
    assert "Training budget" in report and "tiny-fp" in report
    assert report in out
    meta = json.loads((tmp_path / "rd-default.json").read_text())
    assert meta["images"] == 3 and meta["quick"] is True and meta["trained_on"] == []
    summary = (tmp_path / "summary.md").read_text()  # every set in --out in one table; README untouched
    webp = next(line for line in summary.splitlines() if line.startswith("| WebP "))
    assert "default (3) ‡ PSNR" in summary and webp.count(" %") == 2 and "| tiny " in summary
    assert "](rd-default.png)" in summary


def _script(name: str):
    """A benchmark script as a module (its folder on sys.path, as when it runs)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_shows_what_the_committed_results_measure():
    """The README's 'How good is it?' blocks are the scripts' summaries of benchmarks/results, not hand copies."""
    rd, speed = _script("rd"), _script("speed")
    from readme_block import read_block

    readme = ROOT / "README.md"
    stale = "README.md is stale: run python benchmarks/{}.py --summary-only"
    assert read_block(readme, rd.README_KEY) == rd.summary(rd.RESULTS, link="benchmarks/results/"), stale.format("rd")
    results = json.loads((speed.RESULTS / "speed.json").read_text())
    assert read_block(readme, speed.README_KEY) == speed.summary(results), stale.format("speed")
    assert "factorized prior" in read_block(readme, rd.README_KEY) and "AVIF" in read_block(readme, rd.README_KEY)
    overfitted = _script("overfitted")
    assert read_block(readme, overfitted.README_KEY) == overfitted.summary(), stale.format("overfitted")
    assert "steps/s" in read_block(readme, speed.README_KEY)


def test_a_readme_without_the_block_is_a_clear_error(tmp_path):
    _script("rd")
    from readme_block import markers, read_block, write_block

    readme = tmp_path / "README.md"
    readme.write_text("# no block here\n")
    with pytest.raises(SystemExit, match="rd-summary"):
        write_block(readme, "rd-summary", "table", "rd.py")
    begin, end = markers("rd-summary")
    readme.write_text(f"before\n{begin} -->\nold\n{end}\nafter\n")
    write_block(readme, "rd-summary", "new\n", "rd.py")
    assert read_block(readme, "rd-summary") == "new\n"
    assert readme.read_text().startswith("before\n" + begin) and readme.read_text().endswith(f"{end}\nafter\n")


def test_speed_benchmark_measures_every_codec(tiny_checkpoint, tmp_path):
    _run("benchmarks/speed.py", "--models", str(tiny_checkpoint), "--repeats", "1", "--out", str(tmp_path))
    rows = pd.read_csv(tmp_path / "speed.csv")
    jxl = {"JPEG XL"} if OPTIONAL["JPEG XL"].available() else set()
    assert set(rows.codec) == {"JPEG", "JPEG 2000", "WebP", "AVIF", "tiny-fp"} | jxl
    assert (rows.encode_mp_s > 0).all() and (rows.decode_mp_s > 0).all() and (rows.peak_mb > 100).all()
    assert "mosaic-1024" in set(rows.image)
    report = (tmp_path / "speed.md").read_text()
    assert "steps/s" in report and "FactorizedPrior" in report and "ConvAutoencoder" in report


def test_rd_benchmark_compares_against_the_peer(tiny_checkpoint, tiny_peer, tmp_path):
    """The same run codes the same photos with ours and the CompressAI peer: BD-rate ours vs theirs, the rate points
    side by side and the speed ratio."""
    _run(
        "benchmarks/rd.py",
        "--images",
        "default",
        "--codecs",
        "JPEG",
        "--quick",
        "--models",
        str(tiny_checkpoint),
        "--peers",
        str(tiny_peer),
        "--out",
        str(tmp_path),
    )
    rows = pd.read_csv(tmp_path / "rd-default.csv")
    assert set(rows.codec) == {"JPEG", "tiny", "tinypeer"}
    peer_rows = rows[rows.codec == "tinypeer"]
    assert len(peer_rows) == 3 and (peer_rows.bytes > 0).all() and (peer_rows.psnr > 5).all()  # 60 steps
    report = (tmp_path / "rd-default.md").read_text()
    assert "## Against the peer: CompressAI bmshj2018-factorized (`tinypeer`)" in report
    speed = report.split("Speed over the same files")[1]
    assert "encode Mpixel/s vs peer" in speed and "decode Mpixel/s vs peer" in speed
    ratio_row = next(line for line in speed.splitlines() if line.startswith("| tiny "))
    ratios = [float(v) for v in ratio_row.strip("|").split("|")[1:]]
    assert len(ratios) == 4 and all(0 < r < 1000 for r in ratios)


def test_rd_benchmark_skips_the_peer_when_told(tiny_checkpoint, tmp_path):
    _run(
        "benchmarks/rd.py",
        "--images",
        "default",
        "--codecs",
        "JPEG",
        "--quick",
        "--models",
        str(tiny_checkpoint),
        "--peers",
        "--out",
        str(tmp_path),
    )
    assert "Against the peer" not in (tmp_path / "rd-default.md").read_text()


def test_fuzz_benchmark_counts_every_outcome_and_the_readme_shows_the_committed_run(tmp_path):
    """benchmarks/fuzz.py on 80 files per codec: no outcome but FormatError, MemoryError or a finite image; and
    the README's fuzz block is what the committed benchmarks/results/fuzz.json says (at least 10,000 per codec)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import fuzz
    from readme_block import read_block

    _run("benchmarks/fuzz.py", "--n", "80", "--out", str(tmp_path))
    quick = json.loads((tmp_path / "fuzz.json").read_text())
    assert {"factorized-q3", "cae-q3", "generative", "overfitted"} <= set(quick["codecs"])
    for name, r in quick["codecs"].items():
        assert r["failed"] == 0 and sum(sum(c.values()) for c in r["counts"].values()) == 80, name
    committed = json.loads((ROOT / "benchmarks" / "results" / "fuzz.json").read_text())
    assert all(r["files"] >= 10_000 and r["failed"] == 0 for r in committed["codecs"].values())
    assert read_block(ROOT / "README.md", fuzz.README_KEY) == fuzz.summary(committed), "run benchmarks/fuzz.py"
