"""Wikidata entity data: an artist's image (P18, a Commons file) and short English description."""

from __future__ import annotations

from typing import Any

from shows.catalog.http import SourceClient, SourceMalformed


class WikidataClient:
    """`Special:EntityData/Qn.json`, the documented way to read one entity."""

    def __init__(self, http: SourceClient) -> None:
        self.http = http

    def image_and_description(self, qid: str) -> tuple[str | None, str | None]:
        """(image URL, description) of an entity; either may be missing."""
        data = self.http.get_json(f"/wiki/Special:EntityData/{qid}.json")
        entity: Any = (data.get("entities") or {}).get(qid) if isinstance(data, dict) else None
        if not isinstance(entity, dict):
            raise SourceMalformed("Wikidata answered without the entity asked for.")
        description = ((entity.get("descriptions") or {}).get("en") or {}).get("value")
        image = None
        for claim in (entity.get("claims") or {}).get("P18") or []:
            value = ((claim.get("mainsnak") or {}).get("datavalue") or {}).get("value")
            if isinstance(value, str) and value:
                image = "https://commons.wikimedia.org/wiki/Special:FilePath/" + value.replace(" ", "_")
                break
        return image, description if isinstance(description, str) else None
