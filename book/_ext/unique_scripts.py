"""Sphinx extension: every page loads each script once.

With Jupyter Book 1, sphinx-thebe and sphinx-togglebutton register their inline configuration scripts twice, so
every page declared ``const THEBE_JS_URL`` twice and the browser reported ``SyntaxError: Identifier
'THEBE_JS_URL' has already been declared`` (found by tests/test_browser.py). This drops exact repeats (same file,
same attributes, same inline body) from each page's script list, keeping the first.
"""

from __future__ import annotations


def _unique(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        attributes = tuple(sorted((k, str(v)) for k, v in getattr(js, "attributes", {}).items()))
        key = (getattr(js, "filename", js) or "", attributes)  # an inline script's file is None or ""
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _unique, priority=900)  # after the extensions that add page scripts
    return {"parallel_read_safe": True, "parallel_write_safe": True}
