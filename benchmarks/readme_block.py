"""The README blocks the benchmark scripts write: the text between ``<!-- KEY:begin ... -->`` and ``<!-- KEY:end -->``
is replaced by each run, so the README shows what ``benchmarks/results`` measured and nothing copied by hand."""

from __future__ import annotations

from pathlib import Path


def markers(key: str) -> tuple[str, str]:
    return f"<!-- {key}:begin", f"<!-- {key}:end -->"


def _span(text: str, readme: Path, key: str) -> tuple[int, int]:
    begin, end = markers(key)
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise SystemExit(f"{readme} has no '{begin} ... -->' / '{end}' block for the benchmark to write into")
    return i, j


def read_block(readme: Path, key: str) -> str:
    """The text of block ``key`` (without its marker lines)."""
    s = readme.read_text()
    i, j = _span(s, readme, key)
    return s[i:j].split("-->\n", 1)[1] if "-->\n" in s[i:j] else ""


def write_block(readme: Path, key: str, text: str, source: str) -> None:
    """Replace block ``key`` of ``readme`` with ``text``; ``source`` names the command that wrote it."""
    s = readme.read_text()
    i, j = _span(s, readme, key)
    head = f"{markers(key)[0]} (written by `{source}` from benchmarks/results; edits here are lost) -->\n"
    readme.write_text(s[:i] + head + text + s[j:])
