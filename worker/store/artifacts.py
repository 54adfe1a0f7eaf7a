"""The artifact store: a browser scan's screenshot, DOM, HAR and favicon, by sha256.

A directory (``ARTIFACT_DIR``) shared by every replica: each artifact is the file
``DIR/ab/abcdef…`` named by the sha256 of its bytes, so one stored twice is one file. A file
is written under a temporary name in the same directory and renamed into place, so a reader
sees all of it or nothing, and two writers of the same bytes race harmlessly. Results name
their artifacts by hash (``scan_results.artifacts``); retention removes the files no result
names any more (:meth:`ArtifactStore.sweep`).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Collection
from pathlib import Path

from worker.errors import UsageError

#: What a key looks like: a sha256 in lower-case hexadecimal.
_KEY = re.compile(r"[0-9a-f]{64}")
#: Mode of stored files (read-only: nothing rewrites an artifact) and of their directories.
FILE_MODE = 0o444
DIRECTORY_MODE = 0o755


class ArtifactStore:
    """Artifacts by sha256 in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, sha256: str) -> Path:
        """Where the artifact ``sha256`` is (or would be) stored."""
        if not _KEY.fullmatch(sha256):
            raise UsageError(f"not an artifact key: {sha256[:80]!r}")
        return self.directory / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` (once, whoever stores it again) and return its key."""
        key = hashlib.sha256(data).hexdigest()
        target = self.path(key)
        if target.exists():
            return key
        target.parent.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".part-", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, FILE_MODE)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return key

    def read(self, sha256: str) -> bytes | None:
        """The bytes of ``sha256``, checked against it; ``None`` if the store lacks them."""
        try:
            data = self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None
        if hashlib.sha256(data).hexdigest() != sha256:
            return None
        return data

    def sweep(self, keep: Collection[str]) -> list[str]:
        """Remove every stored artifact whose key is not in ``keep``; return the keys removed."""
        removed: list[str] = []
        if not self.directory.is_dir():
            return removed
        for shard in self.directory.iterdir():
            if not shard.is_dir() or len(shard.name) != 2:
                continue
            for file in shard.iterdir():
                if _KEY.fullmatch(file.name) and file.name not in keep:
                    file.unlink(missing_ok=True)
                    removed.append(file.name)
        return removed
