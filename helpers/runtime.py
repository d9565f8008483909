"""Where the code runs: the device to use, and progress bars that show only where someone watches."""

from __future__ import annotations

import sys

import torch
from tqdm.auto import tqdm

__all__ = ["available_memory", "pick_device", "progress", "someone_watching"]


def someone_watching() -> bool:
    """Whether a progress bar has a reader: a notebook front end a person drives, or a terminal.

    A kernel executed by a tool (Jupyter Book's MyST-NB, papermill, nbval: all run through nbclient or a client
    like it) sends every cell with ``allow_stdin=False``, since no one is there to answer ``input()``; JupyterLab,
    Notebook, VS Code and Colab send ``allow_stdin=True``. A bar in a tool-run kernel would be frozen into the
    executed notebook as "0%| | 0/N", so there it is off. Outside a kernel a bar shows when stderr is a terminal
    (tqdm's own rule), so log files and CI stay clean.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return sys.stderr.isatty()
    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is None:  # plain Python, or the IPython terminal
        return sys.stderr.isatty()
    parent = kernel.get_parent("shell") or {}
    return bool(parent.get("content", {}).get("allow_stdin", False))


def progress(iterable=None, desc: str | None = None, disable: bool = False, **kw):
    """tqdm that adapts to notebooks and terminals, and shows only where :func:`someone_watching`."""
    disable = disable or not someone_watching()
    return tqdm(iterable, desc=desc, disable=disable, **kw)


def available_memory() -> int | None:
    """Bytes of memory the system can give a process now (``MemAvailable`` of ``/proc/meminfo``), or ``None``
    where that is not known (then no decoder refuses a file for its size alone)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def pick_device(device: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple's MPS, then the CPU; any other string is taken as it is."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)
