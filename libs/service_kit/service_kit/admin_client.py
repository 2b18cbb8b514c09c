"""What the ``dlq`` and ``carehooks`` command lines share: where the API is, which token, and a
small blocking JSON client whose errors carry the server's own message.

Token, in order: ``--token`` / ``CAREHOOKS_TOKEN``; the dev token ``make run`` keeps in
``<run dir>/admin_token`` (``CAREHOOKS_RUN_DIR``, else the first ``.run/`` found from the current
directory upwards, else the checkout this package runs from); ``ADMIN_TOKEN``. So both CLIs work in
a fresh terminal after ``make run`` without sourcing anything.

Error bodies understood: RFC 9457 problem details (``title``/``detail``/``errors``), the config
API's ``{"detail": [{"loc", "msg"}]}`` or ``{"detail": "..."}``, and the replayer's ``{"error": ...}``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKEN_FILE = "admin_token"


class AdminApiError(Exception):
    """The API answered an error (``status`` > 0) or could not be reached (``status`` 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _run_dirs(env: Mapping[str, str], cwd: Path) -> list[Path]:
    if env.get("CAREHOOKS_RUN_DIR"):
        return [Path(env["CAREHOOKS_RUN_DIR"])]
    found = [folder / ".run" for folder in (cwd, *cwd.parents)]
    found.append(Path(__file__).resolve().parents[3] / ".run")  # the checkout (editable install)
    return found


def dev_run_file(name: str, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path | None:
    """A file ``make run`` wrote in its run directory (``admin_token``, ``env``), when there is one."""
    for folder in _run_dirs(os.environ if env is None else env, cwd or Path.cwd()):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def dev_token_file(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path | None:
    """The dev admin token file ``make run`` wrote, when there is one."""
    return dev_run_file(TOKEN_FILE, env, cwd)


def resolve_token(
    explicit: str | None, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> str | None:
    """The bearer token to send (see the module's docstring for the order), or None."""
    if explicit:
        return explicit.strip()
    environ = os.environ if env is None else env
    path = dev_token_file(environ, cwd)
    if path is not None:
        try:
            token = path.read_text().strip()
        except OSError:
            token = ""
        if token:
            return token
    return environ.get("ADMIN_TOKEN") or None


def _describe_errors(errors: Any) -> list[str]:
    lines = []
    for item in errors if isinstance(errors, list) else []:
        if isinstance(item, Mapping):
            loc = item.get("loc") or item.get("pointer") or item.get("field")
            where = ".".join(str(p) for p in loc) if isinstance(loc, list) else str(loc or "")
            msg = item.get("msg") or item.get("detail") or item.get("message") or ""
            lines.append(f"{where}: {msg}" if where else str(msg))
        else:
            lines.append(str(item))
    return lines


def error_message(status: int, body: bytes) -> str:
    """The server's explanation of an error answer, in one line."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = body.decode(errors="replace").strip()
        return text[:300] or f"HTTP {status}"
    if not isinstance(data, Mapping):
        return str(data)[:300]
    parts: list[str] = []
    detail = data.get("detail")
    if isinstance(detail, str):
        parts.append(detail)
    elif isinstance(detail, list):
        parts.extend(_describe_errors(detail))
    if isinstance(data.get("error"), str):
        parts.append(data["error"])
    parts.extend(_describe_errors(data.get("errors")))
    if not parts and isinstance(data.get("title"), str):
        parts.append(data["title"])
    return "; ".join(dict.fromkeys(p for p in parts if p)) or f"HTTP {status}"


@dataclass(frozen=True)
class AdminClient:
    """Blocking JSON over HTTP with a bearer token (a CLI does one thing at a time)."""

    base_url: str
    token: str | None
    timeout_s: float = 60.0

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """The decoded JSON answer (None for an empty one); raises AdminApiError."""
        if not self.base_url.startswith(("http://", "https://")):
            raise AdminApiError(0, f"the URL must start with http:// or https://, not {self.base_url!r}")
        url = self.base_url.rstrip("/") + path
        params = {k: _text(v) for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        headers = {"accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            message = error_message(exc.code, exc.read())
            if exc.code == 401 and not self.token:
                message += (
                    " (no token: pass --token or set CAREHOOKS_TOKEN; `make run` writes .run/admin_token)"
                )
            raise AdminApiError(exc.code, message) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AdminApiError(0, f"cannot reach {self.base_url}: {reason}") from None
        return json.loads(raw) if raw else None

    def get(self, path: str, **query: Any) -> Any:
        """GET with query parameters (None values left out)."""
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any = None, **query: Any) -> Any:
        """POST a JSON body."""
        return self.request("POST", path, body=body, query=query)


def _text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return [_text(v) for v in value]
    return str(value)
