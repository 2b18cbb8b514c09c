"""The e2e stack fixtures (tests/e2e/conftest.py), shared with the metrics scrape test here."""

from __future__ import annotations

from observability_support import ROOT, load_script

_E2E = load_script(str((ROOT / "tests" / "e2e" / "conftest.py").relative_to(ROOT)))
stack_factory = _E2E.stack_factory
