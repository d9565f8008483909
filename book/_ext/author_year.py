"""Sphinx extension: the bibliography lists its entries under author-year labels ("Ballé et al., 2018"), as the
text cites them, instead of pybtex's alpha keys ("[TSCHuszar17]"), and sorts them by first author and year.

It registers a pybtex formatting style ``authoryear`` (the ``plain`` style with these labels); ``_config.yml`` sets
``bibtex_default_style: authoryear``. Two entries that would share a label get "a", "b", ... after the year.
"""

from __future__ import annotations

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting import BaseSortingStyle


def _surname(person) -> str:
    """A person's last name as plain text: braces and LaTeX accents (``Husz{\\'a}r``) rendered."""
    from pybtex.richtext import Text

    return str(Text(*person.rich_last_names)) if person.rich_last_names else " ".join(person.last_names)


def _label(entry) -> str:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    year = entry.fields.get("year", "n.d.")
    names = [_surname(p) for p in people]
    others = any(str(p) == "others" for p in people)
    if not names:
        who = entry.fields.get("title", entry.key).split(":")[0]
    elif len(names) == 1 and not others:
        who = names[0]
    elif len(names) == 2 and not others:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {year}"  # as the text cites it: "Ballé et al., 2018"


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        labels = [_label(e) for e in sorted_entries]
        seen, count = Counter(), Counter(labels)
        for label in labels:
            if count[label] == 1:
                yield label
            else:
                yield f"{label}{'abcdefghijklmnopqrstuvwxyz'[seen[label]]}"
                seen[label] += 1


class AuthorYearSorting(BaseSortingStyle):
    def sorting_key(self, entry):
        return (_label(entry).lower(), entry.fields.get("title", ""))


class AuthorYearStyle(PlainStyle):
    default_label_style = "authoryear"
    default_sorting_style = "authoryear"


register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabels)
register_plugin("pybtex.style.sorting", "authoryear", AuthorYearSorting)
register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)


def setup(app):
    return {"parallel_read_safe": True, "parallel_write_safe": True}
