"""The API process's garbage collector: what lives as long as the process is kept out of its sight.

A full collection walks every tracked object that is not frozen. Start-up objects (modules, mappers,
schemas) are frozen at the end of the lifespan's start-up (decision 112); what the first requests
build and keep (SQLAlchemy's compiled statements, FastAPI's per-route state, pool connections) is
not, and every full collection then walks it again: ~55k objects, 26-40 ms of stopped event loop
about once per 100 requests, which alone breaks a 50 ms p99 (decision 119).

So the survivors of the first few full collections are frozen too, from inside the collector's
`stop` callback: at that moment the younger generations have just been merged and swept, so what is
tracked is exactly what survived, and freezing it costs no second walk. Only the first few: an object
frozen here that later dies in a reference cycle is never reclaimed, so the warm-up is bounded.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

#: Full collections whose survivors are frozen. Warm-up (a worker's first few hundred requests)
#: triggers them; afterwards the long-lived set no longer grows and a full collection walks only
#: what the last requests left (under 1 ms).
WARMUP_FULL_COLLECTIONS = 5
OLDEST = 2  # the generation a full collection sweeps


def freeze_warmup_survivors(collections: int = WARMUP_FULL_COLLECTIONS) -> Callable[[], None]:
    """Freeze the survivors of the next `collections` full collections; returns the uninstaller.

    The callback stays installed once done (a no-op): removing it from inside the collector's loop
    over `gc.callbacks` would make that loop skip the next callback."""
    left = collections

    def on_collection(phase: str, info: dict[str, Any]) -> None:
        nonlocal left
        if left > 0 and phase == "stop" and info["generation"] == OLDEST:
            gc.freeze()
            left -= 1

    def uninstall() -> None:
        if on_collection in gc.callbacks:
            gc.callbacks.remove(on_collection)

    gc.callbacks.append(on_collection)
    return uninstall
