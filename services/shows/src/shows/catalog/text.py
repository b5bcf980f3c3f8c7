"""Song-title matching: the key under which the same song from different setlists counts once."""

from __future__ import annotations

import re

from shows.normalize import normalize

# trailing qualifiers that do not make another song: "(live)", "[acoustic]", "- remastered 2011"
_QUALIFIER = re.compile(r"\s*[\(\[][^\)\]]*[\)\]]\s*$|\s+-\s+(live|acoustic|remaster(ed)?( \d{4})?|demo)\s*$")
_NON_WORD = re.compile(r"[^\w]+")


def song_key(title: str | None) -> str:
    """Casefolded, accent- and punctuation-free title without trailing qualifiers: "Yesterday (Live)" = "yesterday"."""
    text = normalize(title)
    previous = None
    while previous != text:
        previous = text
        text = _QUALIFIER.sub("", text)
    text = text.replace("&", " and ").replace("'", "").replace("\u2019", "")
    key = _NON_WORD.sub(" ", text).strip()
    return " ".join(key.split())[:200] or normalize(title)[:200]
