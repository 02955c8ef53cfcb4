"""HTML to PDF with WeasyPrint, fetching nothing from outside, rendered in the reader's language.

The templates escape every text from the documents, so markup in a contract (an ``<img src="http://...">``,
a ``file:///`` link) is shown as text and never becomes an element; and the URL fetcher,
:class:`StaticOnlyFetcher`, serves only files under ``web/static`` through the private ``utfall-static:``
scheme and refuses ``http(s):``, ``file:``, ``data:`` and everything else. Fonts come from fontconfig
(DejaVu Sans, Debian package ``fonts-dejavu-core``) and are embedded, subset.

Callers render inside :func:`web.in_language`, so every text of a PDF (templates' ``_()``, the vocabulary,
numbers and dates) comes from one locale: the reader's, also from the command line and the scheduler.
"""

from __future__ import annotations

import logging
import math
import mimetypes
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from flask import current_app

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_SCHEME = "utfall-static:"


# --- the restricted fetcher -----------------------------------------------------------------------


class FetchRefused(ValueError):
    """A resource the fact sheet may not load (anything outside the app's static files)."""


@cache
def _fetcher_class() -> type:
    """Built on first use, so that importing this module (every web worker, every CLI call) stays cheap."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse  # lazy: WeasyPrint loads only to render

    class StaticOnlyFetcher(URLFetcher):  # type: ignore[misc]
        """Serves ``utfall-static:<path>`` from the static folder and refuses every other URL.

        Refused URLs are remembered in ``refused`` (for logs and tests); WeasyPrint then renders without the
        resource. No handler of the base class (network, files, data URLs) is ever reached.
        """

        def __init__(self, static_dir: Path = STATIC_DIR) -> None:
            super().__init__(timeout=1, allowed_protocols=(), allow_redirects=False, fail_on_errors=False)
            self.static_dir = static_dir.resolve()
            self.refused: list[str] = []
            self.served: list[str] = []

        def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
            if not url.startswith(STATIC_SCHEME):
                self.refused.append(url)
                raise FetchRefused(f"fact sheets load only the app's own static files, not {url[:200]!r}")
            relative = url[len(STATIC_SCHEME):].split("?", 1)[0].split("#", 1)[0].lstrip("/")
            path = (self.static_dir / relative).resolve()
            if not path.is_relative_to(self.static_dir) or not path.is_file():
                self.refused.append(url)
                raise FetchRefused(f"no static file {relative!r}")
            self.served.append(url)
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": content_type})

    return StaticOnlyFetcher


def make_fetcher(static_dir: Path = STATIC_DIR) -> Any:
    """A fresh restricted fetcher (a ``weasyprint.urls.URLFetcher``) with empty ``refused``/``served`` lists."""
    return _fetcher_class()(static_dir)


# --- choosing the form before layout ----------------------------------------------------------------
# WeasyPrint's layout is most of a sheet's time, so the full and compact forms are not both laid out: the
# full form's HTML is measured with a rough model of the stylesheet (text width per font size, margins,
# side-by-side cells) and the compact form is chosen when the estimate runs past ``max_pages``.

_PAGE_WIDTH_MM, _PAGE_HEIGHT_MM = 182.0, 267.0  # A4 less the @page margins in factsheet.css
_PT = 0.3528  # mm per point
_CHAR_EM = 0.56  # mean advance of DejaVu Sans in text like ours, in em
# The model above overestimates (it ignores that short lines leave room and that cells share rows); this factor
# brings it to the page counts WeasyPrint lays out for the seed contracts and INDIGO 2025-12 sheets
# (tests/factsheets/test_factsheet_form.py checks the choice on both).
_CALIBRATION = 0.665
_FONT_PT = {"h1": 17.0, "h2": 10.5, "h3": 9.0}
_CLASS_FONT_PT = {"small": 7.5, "note": 7.5, "kicker": 7.5, "terms-summary": 8.0, "metrics": 8.0,
                  "sheet-footer": 7.0, "sources": 7.2}
_BLOCK_MARGIN_MM = {"p": 1.4, "h1": 1.0, "h2": 6.1, "h3": 3.0, "li": 0.8, "tr": 1.4, "ul": 0.0, "ol": 0.0}
_SIDE_BY_SIDE = {"two-col", "timeline-section"}
_CELL_SHARES = {"figures": (0.44, 0.35, 0.21), "parties": (0.4, 0.6), "timeline": (0.22, 0.78),
                "metrics": (0.34, 0.22, 0.18, 0.16, 0.10)}
_BLOCKS = {"p", "li", "h1", "h2", "h3", "tr", "ul", "ol", "div", "section", "header", "footer", "table",
           "thead", "tbody", "body", "td", "th"}
_VOID = {"br", "meta", "link", "img", "hr"}


@dataclass
class _Node:
    tag: str
    classes: frozenset[str]
    children: list[Any]


class _Tree(HTMLParser):
    """The sheet's body as a tree of elements and text (the SVG chart kept as one leaf)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("body", frozenset(), [])
        self.stack = [self.root]
        self.in_body = False
        self.svg_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.in_body = True
            return
        if not self.in_body:
            return
        if self.svg_depth or tag == "svg":
            if tag == "svg" and not self.svg_depth:
                self.stack[-1].children.append(_Node("svg", frozenset(), []))
            self.svg_depth += 1
            return
        node = _Node(tag, frozenset((dict(attrs).get("class") or "").split()), [])
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        if self.svg_depth:
            self.svg_depth -= 1
            return
        if tag in _VOID or not self.in_body or len(self.stack) == 1:
            return
        while len(self.stack) > 1 and self.stack.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self.in_body and not self.svg_depth:
            self.stack[-1].children.append(data)


def _font_of(node: _Node, inherited: float) -> float:
    size = _FONT_PT.get(node.tag, inherited)
    for cls in node.classes:
        size = _CLASS_FONT_PT.get(cls, size)
    return size


def _height_mm(node: _Node, width: float, font: float, table: str = "") -> float:
    """Estimated height of ``node`` laid out at ``width`` mm (``table``: the class of the enclosing table)."""
    if "running-footer" in node.classes:
        return 0.0
    font = _font_of(node, font)
    line = font * _PT * (1.15 if node.tag == "h1" else 1.3)
    if node.tag == "svg":
        return width * 0.74 * 300 / 640
    if node.tag == "tr":
        cells = [c for c in node.children if isinstance(c, _Node)]
        shares = _CELL_SHARES.get(table)
        if shares is None or len(shares) != len(cells):
            shares = tuple(1 / max(1, len(cells)) for _ in cells)
        return max((_height_mm(c, width * s, font) for c, s in zip(cells, shares, strict=True)), default=0.0) + 1.4
    if node.classes & _SIDE_BY_SIDE:
        cols = [c for c in node.children if isinstance(c, _Node)]
        return max((_height_mm(c, width / max(1, len(cols)), font) for c in cols), default=0.0)
    if node.tag == "table":
        table = next((cls for cls in node.classes if cls in _CELL_SHARES), "")
    total = _BLOCK_MARGIN_MM.get(node.tag, 0.0)
    chars_per_line = max(1.0, width / (font * _PT * _CHAR_EM))
    run = 0

    def flush() -> float:
        nonlocal run
        lines = math.ceil(run / chars_per_line) if run else 0
        run = 0
        return lines * line

    for child in node.children:
        if isinstance(child, str):
            run += len(" ".join(child.split())) + (1 if child[:1].isspace() else 0)
        elif child.tag == "br":
            total += flush() if run else line
        elif child.tag in _BLOCKS or child.tag == "svg":
            total += flush()
            total += _height_mm(child, width, font, table)
        else:  # inline element: its text joins the run
            run += sum(len(" ".join(t.split())) for t in _texts(child))
    return total + flush()


def _texts(node: _Node) -> Iterator[str]:
    for child in node.children:
        if isinstance(child, str):
            yield child
        else:
            yield from _texts(child)


def estimated_pages(html: str) -> float:
    """How many A4 pages the sheet's HTML fills, estimated without laying it out (for choosing the form)."""
    tree = _Tree()
    tree.feed(html)
    return _height_mm(tree.root, _PAGE_WIDTH_MM, 8.4) / _PAGE_HEIGHT_MM * _CALIBRATION


# --- rendering ------------------------------------------------------------------------------------


@cache
def _font_config() -> Any:
    from weasyprint.text.fonts import FontConfiguration  # lazy: WeasyPrint loads only to render

    return FontConfiguration()


_IMAGE_CACHE: dict[str, Any] = {}


def _render_document(html: str, fetcher: Any) -> Any:
    from weasyprint import HTML  # lazy: WeasyPrint loads only to render

    return HTML(string=html, url_fetcher=fetcher, base_url=STATIC_SCHEME).render(
        font_config=_font_config(), cache=_IMAGE_CACHE)


def html_to_pdf(html: str, *, fetcher: Any = None, compact_html: Callable[[], str] | None = None,
                max_pages: int = 2) -> bytes:
    """Render HTML with the restricted fetcher, embedding fonts.

    When the result would be longer than ``max_pages`` and a ``compact_html`` variant is given, that is used
    instead. Which one is chosen from the HTML before layout (:func:`estimated_pages`), so a sheet is laid out
    once; only when the estimate chose the full form and layout finds it too long is it laid out again.
    """
    fetcher = fetcher or make_fetcher()
    if compact_html is not None and estimated_pages(html) > max_pages:
        html, compact_html = compact_html(), None
    document = _render_document(html, fetcher)
    if compact_html is not None and len(document.pages) > max_pages:
        log.info("fact sheet estimated at %.2f pages laid out on %d; laying out the compact form",
                 estimated_pages(html), len(document.pages))
        document = _render_document(compact_html(), fetcher)
    pdf = document.write_pdf()
    if fetcher.refused:
        log.warning("fact sheet rendering refused %d resource(s): %s", len(fetcher.refused),
                    ", ".join(u[:80] for u in fetcher.refused))
    return bytes(pdf)


def render(template: str, **context: Any) -> str:
    """Render without the request-bound context processors, so that the CLI and the scheduler can render too.

    The filters (money, date, ...) live on the app's Jinja environment and follow ``force_locale``.
    """
    return current_app.jinja_env.get_template(template).render(**context)
