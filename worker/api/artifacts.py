"""A scan's artifacts: files made by the scan, served only as downloads.

Every source of artifacts implements ``ArtifactSource``: the stored report of a completed
scan (``report.json``), and a browser scan's captures (``screenshot``, ``dom``, ``har``,
``favicon``) from the artifact store, checked against the sha256 its result names.
``ArtifactSources`` answers from each in turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from worker.documents import finite
from worker.store import queries
from worker.store.artifacts import ArtifactStore
from worker.store.database import Database

#: What an artifact's name may look like (it becomes part of a download's file name).
ARTIFACT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
#: The stored report's artifact name.
REPORT = "report.json"


@dataclass(frozen=True, kw_only=True)
class ArtifactInfo:
    """What a scan's artifact is, without its bytes."""

    name: str
    media_type: str
    size: int


@dataclass(frozen=True, kw_only=True)
class Artifact:
    """An artifact and its bytes."""

    info: ArtifactInfo
    data: bytes


class ArtifactSource(Protocol):
    """Where a scan's artifacts come from."""

    def list(self, job_id: str) -> list[ArtifactInfo]:
        """The artifacts ``job_id`` has."""

    def read(self, job_id: str, name: str) -> Artifact | None:
        """The artifact ``name`` of ``job_id``, if there is one."""


class ReportArtifacts:
    """The validated fetcher report of a completed scan, as ``report.json``."""

    def __init__(self, *, db: Database) -> None:
        self.db = db

    def _report(self, job_id: str) -> bytes | None:
        result = queries.get_result(self.db, job_id)
        if result is None:
            return None
        text = json.dumps(finite(result.report), indent=2, sort_keys=True, allow_nan=False)
        return text.encode() + b"\n"

    def list(self, job_id: str) -> list[ArtifactInfo]:
        data = self._report(job_id)
        if data is None:
            return []
        return [ArtifactInfo(name=REPORT, media_type="application/json", size=len(data))]

    def read(self, job_id: str, name: str) -> Artifact | None:
        data = self._report(job_id) if name == REPORT else None
        if data is None:
            return None
        info = ArtifactInfo(name=REPORT, media_type="application/json", size=len(data))
        return Artifact(info=info, data=data)


class StoredArtifacts:
    """A browser scan's screenshot, DOM, HAR and favicon, from the artifact store."""

    def __init__(self, *, db: Database, store: ArtifactStore) -> None:
        self.db = db
        self.store = store

    def _declared(self, job_id: str) -> dict[str, dict[str, Any]]:
        result = queries.get_result(self.db, job_id)
        items = (result.artifacts or []) if result is not None else []
        return {
            str(item["name"]): item
            for item in items
            if isinstance(item, dict) and ARTIFACT_NAME.fullmatch(str(item.get("name", "")))
        }

    def list(self, job_id: str) -> list[ArtifactInfo]:
        return [
            ArtifactInfo(name=name, media_type=str(item["media_type"]), size=int(item["size"]))
            for name, item in self._declared(job_id).items()
        ]

    def read(self, job_id: str, name: str) -> Artifact | None:
        item = self._declared(job_id).get(name)
        if item is None:
            return None
        data = self.store.read(str(item["sha256"]))
        if data is None:
            return None
        info = ArtifactInfo(name=name, media_type=str(item["media_type"]), size=len(data))
        return Artifact(info=info, data=data)


class ArtifactSources:
    """Several sources answering as one, the first that has an artifact winning."""

    def __init__(self, sources: Sequence[ArtifactSource]) -> None:
        self.sources = list(sources)

    def list(self, job_id: str) -> list[ArtifactInfo]:
        found: dict[str, ArtifactInfo] = {}
        for source in self.sources:
            for info in source.list(job_id):
                found.setdefault(info.name, info)
        return list(found.values())

    def read(self, job_id: str, name: str) -> Artifact | None:
        for source in self.sources:
            artifact = source.read(job_id, name)
            if artifact is not None:
                return artifact
        return None
