"""Sphinx extension: serve MathJax from the built book itself, so its math renders without a network.

MathJax 3.2.2 (Apache-2.0) comes from the PyPI package django-static-mathjax, which holds nothing but MathJax's
own files and needs no Django. ``_config.yml`` points ``mathjax_path`` at ``mathjax/tex-svg.js`` (relative to
``_static``); this extension copies that one self-contained file (SVG output needs no font files) and MathJax's
licence there. A build without the package stops with a message instead of falling back to a CDN.
"""

from __future__ import annotations

import shutil
from importlib.util import find_spec
from pathlib import Path

from sphinx.errors import ExtensionError

FILES = ("es5/tex-svg.js", "LICENSE")


def _source() -> Path:
    spec = find_spec("mathjax")
    root = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" if spec else None
    if root is None or not all((root / f).is_file() for f in FILES):
        raise ExtensionError("MathJax is not installed: pip install django-static-mathjax (part of nic-book[book])")
    return root


def _check(app) -> None:
    _source()
    if app.config.mathjax_path != "mathjax/tex-svg.js":
        raise ExtensionError(
            f"offline_mathjax serves mathjax/tex-svg.js, but mathjax_path is {app.config.mathjax_path}"
        )


def _copy(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    dest = Path(app.outdir) / "_static" / "mathjax"
    dest.mkdir(parents=True, exist_ok=True)
    for f in FILES:
        shutil.copyfile(_source() / f, dest / Path(f).name)


def setup(app):
    app.connect("builder-inited", _check)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
