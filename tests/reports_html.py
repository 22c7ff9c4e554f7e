"""A strict structural check of the report pages' HTML: every element closed in order, one `h1`,
labelled players, no duplicate id (the standard library's parser, no browser)."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: Counter[str] = Counter()
        self.ids: Counter[str] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        values = dict(attrs)
        if values.get("id"):
            self.ids[values["id"] or ""] += 1
        if tag == "audio" and not values.get("aria-label"):
            self.errors.append("an <audio> without aria-label")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
            return
        self.stack.pop()


def html_problems(html: str) -> list[str]:
    """Everything wrong with the page's structure; [] when it is well formed."""
    checker = _Checker()
    checker.feed(html)
    checker.close()
    problems = list(checker.errors)
    if checker.stack:
        problems.append(f"unclosed: {checker.stack}")
    if checker.tags["h1"] != 1:
        problems.append(f"{checker.tags['h1']} h1 elements")
    problems += [f"duplicate id {i}" for i, n in checker.ids.items() if n > 1]
    if not html.lstrip().lower().startswith("<!doctype html>"):
        problems.append("no doctype")
    return problems
