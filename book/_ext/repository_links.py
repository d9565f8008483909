"""The book's repository, set in one place: ``repository.url`` and ``repository.branch`` in ``_config.yml``.

Jupyter Book's launch buttons read them there. Two things in each chapter must be literal text, because Colab
shows the paired ``.ipynb`` as it is: the "Open in Colab" badge and the first code cell, which installs the package
from the repository. This module writes both from ``_config.yml``:

    python book/_ext/repository_links.py        # rewrite every chapter's badge and install cell (``make sync`` runs it)
    python book/_ext/repository_links.py --check   # exit 1, naming the chapters, when one disagrees with _config.yml

As a Sphinx extension it refuses to build a book whose chapters point somewhere else than ``_config.yml`` says.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BADGE = re.compile(r"^\[!\[Open in Colab\]\(figures/colab-badge\.svg\)\]\(\S+\)$", re.M)
INSTALL = re.compile(r'^    !pip install -q "nic-book @ git\+\S+"$', re.M)


def repository(config: Path = ROOT / "_config.yml") -> tuple[str, str]:
    """``(url, branch)`` from ``_config.yml``, the URL without a trailing slash or ``.git``."""
    repo = yaml.safe_load(config.read_text()).get("repository") or {}
    url = str(repo.get("url", "")).rstrip("/").removesuffix(".git")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise ValueError(f"_config.yml: repository.url must be https://github.com/OWNER/NAME, not {url!r}")
    return url, str(repo.get("branch") or "main")


def badge(url: str, branch: str, chapter: str) -> str:
    colab = url.replace("https://github.com/", "https://colab.research.google.com/github/")
    return f"[![Open in Colab](figures/colab-badge.svg)]({colab}/blob/{branch}/book/{chapter}.ipynb)"


def install(url: str, branch: str) -> str:
    return f'    !pip install -q "nic-book @ git+{url}@{branch}"'


def chapters(book: Path = ROOT / "book") -> list[Path]:
    return sorted(p for p in book.glob("[0-9]*.md"))


def expected(md: Path, url: str, branch: str) -> str:
    """The chapter's text with its badge and install line written from the repository settings."""
    text = md.read_text()
    if len(BADGE.findall(text)) != 1 or len(INSTALL.findall(text)) != 1:
        raise ValueError(f"{md.name}: needs exactly one Colab badge line and one `!pip install` line to rewrite")
    text = BADGE.sub(lambda _: badge(url, branch, md.stem), text)
    return INSTALL.sub(lambda _: install(url, branch), text)


def stale(url: str, branch: str) -> list[str]:
    return [md.name for md in chapters() if md.read_text() != expected(md, url, branch)]


def _check_build(app) -> None:
    from sphinx.errors import ExtensionError

    if bad := stale(*repository()):
        raise ExtensionError(f"{', '.join(bad)} point elsewhere than _config.yml's repository: run `make sync`")


def setup(app):
    app.connect("builder-inited", _check_build)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str]) -> int:
    url, branch = repository()
    if "--check" in argv:
        bad = stale(url, branch)
        if bad:
            print(f"{', '.join(bad)} disagree with _config.yml ({url}, {branch}): run `make sync`", file=sys.stderr)
        return 1 if bad else 0
    for md in chapters():
        text = expected(md, url, branch)
        if text != md.read_text():
            md.write_text(text)
            print(f"{md.name}: badge and install cell now point at {url} ({branch})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
