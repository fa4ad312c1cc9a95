"""The team lead's side of the router: the static page (`/lead`) and what its JSON endpoints do.

The page's files (`index.html`, `lead.js`, `lead.css`) are package data and hold no data: the page asks for a
lead API key and reads everything from `/v1/lead/overview` and the thresholds endpoints.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

PAGE_FILES: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "lead.js": "text/javascript; charset=utf-8",
    "lead.css": "text/css; charset=utf-8",
}


@lru_cache(maxsize=len(PAGE_FILES))
def page_file(name: str) -> bytes:
    """One of the page's files, read once from the installed package.

    Raises:
        KeyError: `name` is not one of PAGE_FILES.
    """
    if name not in PAGE_FILES:
        raise KeyError(name)
    return resources.files(__name__).joinpath(name).read_bytes()
