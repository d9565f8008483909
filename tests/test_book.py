"""The book: every chapter's .md and .ipynb agree, carry the pieces readers rely on, run, and build cleanly."""

import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
sys.path.insert(0, str(BOOK / "_ext"))
import repository_links  # noqa: E402  (book/_ext is the book's, not the package's)


def toc_files():
    files = [TOC["root"]]
    for part in TOC.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files


PAGES = sorted(BOOK.glob("*.md"))
CHAPTERS = [p for p in PAGES if "\njupytext:" in p.read_text()[:200]]  # notebooks; the rest are plain pages
IDS = [p.stem for p in CHAPTERS]


def test_every_page_is_in_the_toc():
    assert sorted(f"book/{p.stem}" for p in PAGES) == sorted(toc_files())
    assert len(CHAPTERS) >= 4


def _cells(nb):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in nb.cells]


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_ipynb_is_the_paired_output_free_copy(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run `make sync`"
    paired = jupytext.read(ipynb)
    assert _cells(jupytext.read(md)) == _cells(paired), f"{ipynb.name} drifted from {md.name}: run `make sync`"
    for cell in paired.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, f"{ipynb.name} has outputs"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_chapter_anatomy(md):
    nb = jupytext.read(md)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged `parameters`"
    assert "QUICK" in params[0].source and "DEVICE" in params[0].source
    text = md.read_text()
    url, branch = repository_links.repository()
    assert repository_links.badge(url, branch, md.stem) in text, "the Colab badge must open this chapter's own .ipynb"
    assert repository_links.install(url, branch) in text, "the first cell installs the package from the repository"
    assert re.search(r"^\(ch-[a-z-]+\)=$", text, re.M), "a chapter label for cross references"
    assert "## Summary" in text and "## Exercises" in text
    assert "run_report(" in nb.cells[-1].source, "the last cell reports run time and hardware"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "def " not in code and "class " not in code, "chapters import reusable code from helpers"


def test_ci_runs_the_readme_commands_as_written():
    """`.ci/run` runs the README's two set-up commands, as written, with nothing set that changes what they do."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Two commands")
    section = readme[start : readme.index("\n## ", start + 1)]
    commands = re.findall(r"```bash\n(.+?)\n```", section, re.S)
    assert commands == ["make book", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    lines = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert [line for line in lines if line in commands] == commands
    for variable in ("NIC_QUICK", "NIC_NO_PROGRESS", "OMP_NUM_THREADS", "TEST_THREADS", "TORCH="):
        assert variable not in ci, f".ci/run sets {variable}: a new user does not"


def test_every_chapter_points_at_the_configured_repository():
    """One place names the repository (`_config.yml`); `make sync` writes every chapter's badge and install cell."""
    url, branch = repository_links.repository()
    assert repository_links.stale(url, branch) == [], "run `make sync`"
    from packaging.requirements import Requirement

    line = repository_links.install(url, branch)
    requirement = Requirement(line.split('"')[1])  # what Colab's `!pip install` receives
    assert requirement.name == "nic-book" and requirement.url == f"git+{url}@{branch}"
    for md in CHAPTERS:  # no other link to the repository is written out by hand
        rest = repository_links.INSTALL.sub("", repository_links.BADGE.sub("", md.read_text()))
        assert url not in rest, f"{md.name} names {url} outside its badge and install cell"


def test_every_citation_is_in_the_bibliography():
    keys = set(re.findall(r"^@\w+\{([^,]+),", (BOOK / "references.bib").read_text(), re.M))
    assert {"tao2017", "theis2017", "santurkar2018", "zhao2017", "cheng2018", "balle2017", "balle2018"} <= keys
    for md in PAGES:
        for group in re.findall(r"\{cite(?::[tp])?\}`([^`]+)`", md.read_text()):
            missing = {k.strip() for k in group.split(",")} - keys
            assert not missing, f"{md.name} cites {missing}, which book/references.bib lacks"


@pytest.mark.slow
@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_chapter_passes_nbval_in_quick_mode(md):
    """papermill injects the parameters (as a reader's ``papermill -p`` run would), nbval executes every cell of
    the result in a fresh kernel and fails on any error (``--nbval-lax``: the paired notebooks store no outputs)."""
    import papermill as pm

    out = ROOT / "_build" / "nbval" / md.with_suffix(".ipynb").name
    out.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(
        str(md.with_suffix(".ipynb")),
        str(out),
        parameters={"QUICK": True, "DEVICE": "cpu"},
        prepare_only=True,
        kernel_name="python3",
    )
    injected = [c for c in jupytext.read(out).cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "QUICK = True" in injected[0].source
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "--nbval-cell-timeout",
            "900",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=-q",
            "--rootdir",
            str(out.parent),
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=out.parent,
        env={**os.environ, "NIC_RESULTS": str(ROOT / "benchmarks" / "results")},
    )  # ch 5 shows the saved studies
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert " passed" in run.stdout and " failed" not in run.stdout


@pytest.mark.slow
def test_book_builds_without_warnings(built_book):
    """The README's main job, run as a new user runs it: every chapter executed, -W turns any warning into a
    failure."""
    run, html = built_book
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-5000:]
    assert (html / "_static" / "mathjax" / "tex-svg.js").stat().st_size > 1e6  # math renders offline
    for f in toc_files():
        page = (html / f).with_suffix(".html")
        assert page.exists(), page
        text = page.read_text()
        assert "Traceback" not in text, f"{page.name} shows an error"
        assert "mathjax@" not in text, f"{page.name} loads MathJax remotely"
        if 'class="math' in text:  # Sphinx adds MathJax only to pages with math
            assert "_static/mathjax/tex-svg.js" in text, f"{page.name} has math but no local MathJax"
        assert "cdn.jsdelivr" not in text and "cdnjs" not in text, f"{page.name} loads scripts from a CDN"
    assert not (html / "reports").exists()
