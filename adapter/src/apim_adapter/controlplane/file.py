"""The file control plane: a YAML/JSON catalog, reloaded when the file changes.

Polls the file's identity (inode, size, mtime) so that Kubernetes ConfigMap updates, which swap a symlink,
are seen as well as in-place edits; a broken file leaves the last good catalog serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import yaml

from .. import metrics, tracing
from . import Publish

log = logging.getLogger(__name__)


class CatalogFileError(ValueError):
    pass


def read_document(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogFileError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise CatalogFileError(f"{path}: not UTF-8 text") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogFileError(f"{path}: not valid YAML/JSON: {exc}") from exc


class FileControlPlane:
    lenient = False  # an operator's file must be right as a whole

    def __init__(self, path: Path, poll_seconds: float = 1.0):
        self.path, self.poll_seconds = path, poll_seconds
        self._seen: tuple[int, int, int] | None = None

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    async def run(self, publish: Publish) -> None:
        while True:
            identity = self._identity()
            if identity != self._seen:
                self._seen = identity
                await self._load(publish)
            await asyncio.sleep(self.poll_seconds)

    @tracing.traced("control-plane pull", lambda self, _: {"apim.control_plane": "file"})
    async def _load(self, publish: Publish) -> None:
        try:
            doc = await asyncio.to_thread(read_document, self.path)
        except CatalogFileError as exc:
            metrics.CATALOG_RELOADS.labels("file", "error").inc()
            log.error("catalog not loaded; keeping the last good one", extra={"error": str(exc)})
            return
        publish(doc)
