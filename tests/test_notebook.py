import ipywidgets as widgets
import pytest
import torch

from helpers.notebook import pick_device, rd_explorer, run_report, show_table


def test_rd_explorer_orders_by_rate_and_swaps_images():
    g = torch.Generator().manual_seed(0)
    recon = {"high": (torch.rand(3, 64, 64, generator=g), 0.9, 33.0), "low": (torch.zeros(3, 64, 64), 0.1, 21.0)}
    box = rd_explorer(recon, crop=(0, 0, 32, 32)).widget
    slider, caption, image = box.children
    assert "low" in caption.value and "0.100 bpp" in caption.value
    first = image.value
    slider.value = 1
    assert "high" in caption.value and image.value != first
    slider.value = 0
    assert image.value == first


def test_rd_explorer_uses_no_output_widget():
    """nbclient can deadlock on Output widgets (jupyter/nbclient#312); the explorer must not hold one."""

    def tree(w):
        yield w
        for child in getattr(w, "children", ()):
            yield from tree(child)

    box = rd_explorer({"a": (torch.rand(3, 16, 16), 0.5, 30.0)}).widget
    kinds = [type(w) for w in tree(box)]
    assert widgets.Image in kinds
    assert not any(issubclass(k, (widgets.Output, widgets.interactive)) for k in kinds)


def test_rd_explorer_displays_as_a_widget_with_a_static_html_slider():
    recon = {"b": (torch.rand(3, 16, 16), 0.5, 30.0), "a <&>": (torch.rand(3, 16, 16), 0.2, 25.0)}
    bundle = rd_explorer(recon)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # live kernels get the slider
    page = bundle["text/html"]  # the built book gets every frame, inline, in rate order, behind a range input
    assert page.count("data:image/png;base64,") == 2 and "http" not in page and "<script" not in page
    assert page.index("a &lt;&amp;&gt;") < page.index("<b>b</b>")
    assert 'type="range" min="0" max="1" value="0"' in page and "oninput=" in page
    assert page.count("display:block") == 2 and page.count("display:none") == 1  # the control and frame 0 show


def test_rd_explorer_needs_something_to_show():
    with pytest.raises(ValueError, match="at least one"):
        rd_explorer({})


def test_run_report_names_the_hardware():
    line = run_report(pick_device("cpu"))
    assert line.startswith("Ran in ") and "CPU cores" in line and "device cpu" in line


def test_the_gpu_workflow_runs_make_full_and_make_full_runs_every_chapter():
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    flow = yaml.safe_load((root / ".github/workflows/full-gpu.yml").read_text())
    job = flow["jobs"]["full"]
    assert "gpu" in job["runs-on"] and "self-hosted" in job["runs-on"]
    assert any(step.get("run") == "make full" for step in job["steps"])
    make = (root / "Makefile").read_text()
    recipe = make[make.index("\nfull:") :]
    assert "QUICK False" in recipe and "--nbval-lax" in recipe and "book/[0-9]*.ipynb" in recipe


def _kernel_says(allow_stdin: bool) -> dict:
    """Run one cell in a fresh IPython kernel, as a front end would (``allow_stdin=True``, like JupyterLab, VS
    Code or Colab) or as a tool does (``False``, like nbclient: Jupyter Book, papermill, nbval)."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        code = (
            "from helpers.runtime import progress, someone_watching\n"
            "bar = progress(range(3))\n"
            "print(someone_watching(), bar.disable)"
        )
        kc.execute(code, allow_stdin=allow_stdin)
        out, stderr = "", ""
        while True:
            msg = kc.get_iopub_msg(timeout=120)
            if msg["msg_type"] == "stream":
                out += msg["content"]["text"] if msg["content"]["name"] == "stdout" else ""
                stderr += msg["content"]["text"] if msg["content"]["name"] == "stderr" else ""
            if msg["msg_type"] == "error":
                raise AssertionError("\n".join(msg["content"]["traceback"]))
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        return {"stdout": out.strip(), "stderr": stderr}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_progress_bars_show_to_a_person_and_never_reach_an_executed_notebook():
    """The built book froze "0%| | 0/N" bars into its pages: a tool-run kernel must get no bar at all, with no
    environment variable set, while a person's notebook keeps it."""
    assert _kernel_says(allow_stdin=False)["stdout"] == "False True"
    assert _kernel_says(allow_stdin=True)["stdout"] == "True False"


def test_progress_bars_in_a_terminal_follow_the_terminal():
    import subprocess
    import sys

    code = "from helpers.runtime import progress; print(progress(range(3)).disable)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "True" and r.stderr == ""  # stderr is a pipe here, as in a log file or CI


def test_show_table_formats_for_reading():
    """Tables in the book: no empty index-name row, integers as integers, chosen rounding, mean ±sd in one column
    (a spread too small for the mean's decimals still shows), NaN as a dash."""
    import re

    import pandas as pd

    df = pd.DataFrame(
        {"bytes": [145560.0, 5272.0], "psnr": [30.12345, float("nan")], "psnr sd": [0.00003, 0.4], "rate": [0.0, 1e-4]},
        index=pd.Index(["ours", "zlib"], name="codec"),
    )
    html = show_table(df, digits={"psnr": 2, "rate": "{:g}"}).to_html()
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", html)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html)
    assert headers == ["codec", "bytes", "psnr", "rate"]  # one header row: the index is a column, sd is merged
    assert cells == ["ours", "145,560", "30.12 ±0.00003", "0", "zlib", "5,272", "–", "0.0001"]
