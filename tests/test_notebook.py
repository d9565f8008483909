import ipywidgets as widgets
import pytest
import torch

from helpers.notebook import pick_device, rd_explorer, run_report


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


def test_rd_explorer_displays_as_a_widget_with_a_static_html_strip():
    recon = {"b": (torch.rand(3, 16, 16), 0.5, 30.0), "a <&>": (torch.rand(3, 16, 16), 0.2, 25.0)}
    bundle = rd_explorer(recon)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # live kernels get the slider
    page = bundle["text/html"]  # the built book gets every frame, inline, in rate order
    assert page.count("data:image/png;base64,") == 2 and "http" not in page
    assert page.index("a &lt;&amp;&gt;") < page.index("<b>b</b>")


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
    recipe = make[make.index("\nfull:"):]
    assert "QUICK False" in recipe and "--nbval-lax" in recipe and "book/[0-9]*.ipynb" in recipe
