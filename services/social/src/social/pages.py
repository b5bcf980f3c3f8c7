"""The skeleton of social's server-rendered public pages (/s/ share links, /u/ profiles): every value escaped,
Open Graph (`property`) and Twitter card / description (`name`) tags so a pasted link previews well."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

Tags = Iterable[tuple[str, Any]]


def esc(value: Any) -> str:
    """HTML-escape a value (quotes too: values go into attributes)."""
    return html.escape(str(value), quote=True)


def page(title: str, *, properties: Tags, names: Tags, body: str) -> str:
    """A whole page; `body` must already be escaped."""
    meta = "".join(f'<meta property="{esc(k)}" content="{esc(v)}">' for k, v in properties) + "".join(
        f'<meta name="{esc(k)}" content="{esc(v)}">' for k, v in names)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title>{meta}</head><body><main>{body}"
        '<p><a href="/">ShareMyShows</a></p></main></body></html>'
    )


def not_found_page(heading: str, text: str) -> str:
    """The 404 page of a public path (never indexed)."""
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not found · ShareMyShows</title>'
            f'<meta name="robots" content="noindex"></head><body><h1>{esc(heading)}</h1><p>{esc(text)}</p>'
            "</body></html>")
