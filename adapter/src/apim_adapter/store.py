"""The serving catalog: what control planes publish, validated and swapped in whole.

A control plane hands over whole documents (`publish`) and, on a channel of their own, the key managers it
manages (`publish_key_managers`). A document that does not validate leaves the last good catalog serving and is
reported (log, metric, `/readyz` until a first one loads). Whether one bad item rejects the whole document is the
control plane's choice (`lenient`): an operator's file must be right as a whole; APIM's data is served as well as
it can be, the bad items left out and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import cors, metrics
from .catalog import Catalog, CatalogError, build
from .config import KeyManager

log = logging.getLogger(__name__)


class CatalogStore:
    def __init__(
        self,
        source: str,
        lenient: bool,
        configured_key_managers: Iterable[KeyManager] = (),
        on_key_managers: Callable[[list[KeyManager]], None] = lambda _: None,
        on_first_catalog: Callable[[], None] = lambda: None,
        cors_settings: cors.Settings | None = None,  # the global CORS configuration; None: CORS is off
        on_catalog: Callable[[Catalog], None] = lambda _: None,  # each catalog that starts serving
    ):
        self.source, self.lenient = source, lenient
        self.cors_settings = cors_settings
        self.configured = tuple(configured_key_managers)
        self.on_key_managers, self.on_first_catalog = on_key_managers, on_first_catalog
        self.on_catalog = on_catalog
        self.current: Catalog | None = None
        self.error = "no catalog loaded yet"
        self._versions = 0

    def __call__(self) -> Catalog | None:
        return self.current

    def publish(self, document: Mapping[str, Any]) -> bool:
        """Validate and swap in a new catalog; on error keep serving the last good one. True when it serves."""
        try:
            catalog = build(document, self._versions + 1, lenient=self.lenient, cors_settings=self.cors_settings)
        except CatalogError as exc:
            metrics.CATALOG_RELOADS.labels(self.source, "error").inc()
            self.error = str(exc)
            log.error("catalog rejected; keeping the last good one", extra={"error": str(exc)})
            return False
        first = self.current is None
        told = set(self.current.unenforced) if self.current is not None else set()
        self._versions += 1
        self.current, self.error = catalog, ""
        metrics.CATALOG_RELOADS.labels(self.source, "success").inc()
        metrics.CATALOG_LOADED.set_to_current_time()
        for kind, count in catalog.counts.items():
            metrics.CATALOG_OBJECTS.labels(kind).set(count)
        metrics.CATALOG_SKIPPED.set(len(catalog.skipped))
        metrics.CATALOG_UNENFORCED.set(len(catalog.unenforced))
        log.info("catalog loaded", extra={"version": catalog.version, **catalog.counts})
        for reason in catalog.skipped:
            log.warning("catalog item left out", extra={"error": reason})
        for how in catalog.unenforced:  # once while it lasts: every event publishes a catalog again
            if how not in told:
                log.warning("catalog item not enforced as APIM configures it", extra={"detail": how})
        if "keyManagers" in document:  # a control plane that still sends them inside the document
            self.publish_key_managers(document["keyManagers"])
        self.on_catalog(catalog)
        if first:
            self.on_first_catalog()
        return True

    def publish_key_managers(self, learned: Iterable[KeyManager]) -> None:
        """Key managers the control plane manages, beside the configured ones (which win on a name clash);
        an empty list removes every learned one."""
        names = {km.name for km in self.configured}
        self.on_key_managers([*self.configured, *(km for km in learned if km.name not in names)])

    def ready(self) -> tuple[bool, str]:
        if self.current is None:
            return False, self.error
        return True, f"catalog version {self.current.version}"
