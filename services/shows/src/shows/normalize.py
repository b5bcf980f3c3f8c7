"""Name normalisation used for uniqueness and case/accent-insensitive search."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def normalize(value: str | None) -> str:
    """Casefold, strip accents (NFKD minus combining marks) and collapse whitespace."""
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def like_escape(value: str) -> str:
    """Escape LIKE wildcards so user input matches literally (escape char is backslash)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def parse_location(location: str | None) -> tuple[str, str, str]:
    """Split "City, ST" / "City, Country" / "City, ST, Country" into (city, state, country)."""
    if not location:
        return "", "", ""
    parts = [p.strip() for p in location.split(",") if p.strip()]
    if not parts:
        return "", "", ""
    if len(parts) == 1:
        return parts[0], "", ""
    if len(parts) == 2:
        city, rest = parts
        # two-letter (or three, e.g. "NSW") upper-case codes read as a state/region, longer as a country
        if len(rest) <= 3 and rest.isupper():
            return city, rest, ""
        return city, "", rest
    return parts[0], parts[1], ", ".join(parts[2:])


def format_location(city: str, state: str, country: str) -> str:
    """The display location: "City, ST" or "City, Country" (or whatever parts exist)."""
    second = state or country
    return ", ".join(p for p in (city, second) if p)
