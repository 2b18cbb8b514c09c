"""What the CLI tests share (a module of its own: every test folder has a ``conftest``)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "config_api"))  # capi_harness

from capi_harness import ADMIN_TOKEN


@dataclass
class LiveApi:
    """A config API on a real port."""

    url: str
    app: FastAPI
    token: str = ADMIN_TOKEN
