"""Response headers that keep browsers from misusing the admin UI and the APIs (framework-free:
each service applies them in its own middleware).

The admin UI is Vue without a build step: its templates are compiled in the browser with
``Function``, which needs ``'unsafe-eval'``; everything else is locked to the page's own origin,
and the one inline script (the import map) is allowed by its hash, computed from the served file.
"""

from __future__ import annotations

import base64
import hashlib
import re

COMMON_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
"""On every response."""

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""JSON answers: nothing may load or frame them."""

DOCS_CSP = (
    "default-src 'none'; script-src 'self' https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src 'self' https://cdn.jsdelivr.net 'unsafe-inline'; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""The interactive API docs (Swagger UI and ReDoc load their assets from a CDN with inline bootstrap)."""

_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def inline_script_hashes(html: str) -> list[str]:
    """CSP source expressions (``'sha256-...'``) of the inline scripts of a page."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]


def ui_csp(index_html: str) -> str:
    """The Content-Security-Policy of the admin UI served from ``index_html``."""
    scripts = " ".join(["'self'", *inline_script_hashes(index_html), "'unsafe-eval'"])
    return (
        f"default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
