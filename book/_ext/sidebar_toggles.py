"""Sphinx extension: the sidebar buttons (☰ and the page-contents button) work on phones and desktops.

sphinx-book-theme 1.3 puts its own ``.primary-toggle`` button in the article header, and pydata-sphinx-theme 0.17
adds another in its navbar. Both themes' scripts bind ``document.querySelector(".primary-toggle")``: the first
button in the page, which this layout hides, so the visible ☰ did nothing at 390 px and did not collapse the sidebar
on a desktop (pydata/pydata-sphinx-theme#2451). The same holds for ``.secondary-toggle``, the page-contents button.

The script below makes every other toggle of a kind forward its click to the first one, which carries both themes'
handlers (a dialog on narrow screens, collapsing the sidebar on wide ones). Once the themes bind every button, a
click reaches the first button's handlers as before, so the forward does no harm.
"""

from __future__ import annotations

SCRIPT = """
document.addEventListener("DOMContentLoaded", () => {
  for (const kind of [".primary-toggle", ".secondary-toggle"]) {
    const [bound, ...others] = document.querySelectorAll(kind);
    for (const button of others) {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        event.stopPropagation();
        bound.click();
      });
    }
  }
});
"""


def setup(app):
    app.add_js_file(None, body=SCRIPT)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
