"""Control planes feed catalog documents (WSO2 internal data API shapes) to the adapter.

A control plane calls `publish(document)` with a whole document whenever it has a new one; the
adapter validates it, builds a new catalog and swaps it in, or keeps the last good one and reports why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

Publish = Callable[[Mapping[str, Any]], bool]  # True when the document became the serving catalog


class ControlPlane(Protocol):
    lenient: bool  # True: a bad item is left out of the catalog; False: it rejects the whole document

    async def run(self, publish: Publish) -> None:
        """Publish documents until cancelled."""
        ...
