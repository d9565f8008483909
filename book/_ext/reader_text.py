"""Sphinx extension: the text a reader meets around the pages, not in them.

- **Alt text.** A figure made by a code cell is an image whose file name is a hash; Sphinx uses the file name as
  its alt text when none is set ("../_images/28a04c….png"), which is what a screen reader reads and what shows
  when an image fails to load. Each such image gets its figure's caption, or, outside a figure, a sentence that
  names its section.
- **One title per tab.** The book's front page has the book's name as its title, so the browser tab read
  "Neural image compression and restoration — Neural image compression and restoration". Sphinx's layout appends
  " — <docstitle>" whenever ``docstitle`` is set, so on that page ``docstitle`` is emptied, and the navbar, which
  shows ``logo.text or docstitle``, gets the name as its logo text instead.
- **Search snippets.** Sphinx's search shows 240 characters of a page's main element around the word searched
  for. Two things made every snippet read "...Colab": it looks for the *stemmed* word ("entropi"), which the text
  does not contain, and then falls back to the first 240 characters, which are the whitespace of the article
  header and its launch button. The script below drops the header, the navigation and the code cells from that
  text, folds whitespace, and looks for the words as typed as well as stemmed.
"""

from __future__ import annotations

import re

from docutils import nodes

HASHED = re.compile(r"(^|/)[0-9a-f]{32,}\.(png|jpe?g|svg|gif)$")


def _section_title(node) -> str | None:
    while node is not None:
        if isinstance(node, nodes.section) and node.children and isinstance(node[0], nodes.title):
            return node[0].astext()
        node = node.parent
    return None


def _alt_text(app, doctree, docname) -> None:
    for image in doctree.findall(nodes.image):
        alt = image.get("alt", "")
        if alt and not HASHED.search(alt) and alt != image.get("uri"):
            continue
        figure = image.parent
        while figure is not None and not isinstance(figure, nodes.figure):
            figure = figure.parent
        captions = list(figure.findall(nodes.caption)) if figure is not None else []
        if captions:
            image["alt"] = " ".join(captions[0].astext().split())
        else:
            section = _section_title(image)
            image["alt"] = f"Output of a code cell in the section “{section}”" if section else "Output of a code cell"


def _one_title(app, pagename, templatename, context, doctree) -> None:
    title = re.sub(r"<[^>]+>", "", context.get("title") or "").strip()
    book = (context.get("docstitle") or "").strip()
    if title and title == book:
        context["theme_logo"] = {**(context.get("theme_logo") or {}), "text": book}
        context["docstitle"] = ""


# runs at DOMContentLoaded, after searchtools.js (loaded only by search.html) has defined `Search` (a top-level
# `const`: a global binding, but no property of `window`)
SEARCH_SNIPPETS = """
document.addEventListener("DOMContentLoaded", () => {
  if (typeof Search === "undefined" || !Search.htmlToText || !Search.makeSearchSummary) return;
  const toText = Search.htmlToText, summary = Search.makeSearchSummary;
  const skip = ".bd-header-article, .header-article-items, .prev-next-area, .bd-sidebar-secondary, nav, " +
               ".cell_input, a[href*='colab.research.google.com']";
  Search.htmlToText = (html, anchor) => {
    const page = new DOMParser().parseFromString(html, "text/html");
    page.querySelectorAll(skip).forEach((e) => e.remove());
    return toText(page.documentElement.outerHTML, anchor).replace(/\\s+/g, " ");
  };
  Search.makeSearchSummary = (html, keywords, anchor) => {
    const typed = (new URLSearchParams(window.location.search).get("q") || "").split(/\\s+/).filter(Boolean);
    return summary(html, new Set([...keywords, ...typed]), anchor);
  };
});
"""


def setup(app):
    app.add_js_file(None, body=SEARCH_SNIPPETS)
    app.connect("doctree-resolved", _alt_text)
    app.connect("html-page-context", _one_title)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
