"""What every test directory shares: the emulator's sample apps (fixed ids) and small stat helpers.

Imported as `from suite import ...` (tests/ is on sys.path through the root conftest); a plain module,
because `from conftest import` resolves to whichever conftest was imported last.
"""

from __future__ import annotations

TEXT_TO_IMAGE = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a01"
CARTOONIFY = "3f68debe-df0a-4fc9-bdd3-9d45a4160587"
PRODUCT_SHOT = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a03"
CAPTION_WRITER = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a04"
TEASER_CLIP = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a05"


def route_count(emulator, route: str) -> int:
    """Requests the emulator saw on `route` (e.g. "POST /v1/apps/{id}/runs") since its last reset."""
    return emulator.stats["requests_by_route"].get(route, 0)
