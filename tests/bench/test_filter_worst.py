"""``bench/filter_worst.py`` (part of ``make bench``'s matching benchmark): the three slowest cells of
the sweep are measured again beside the reference, the verdict is the largest confirmed ratio, and the
heap frozen for the run is given back."""

from __future__ import annotations

import gc

import filter_worst


def test_the_verdict_is_the_largest_confirmed_ratio() -> None:
    frozen = gc.get_freeze_count()
    # A reference so slow that every filter is a small fraction of it, then one so fast that none passes.
    slow = filter_worst.run(lambda: 1_000.0, repeats=1, confirm_rounds=1)
    fast = filter_worst.run(lambda: 1e-6, repeats=1, confirm_rounds=1)
    assert gc.get_freeze_count() == frozen
    for result in (slow, fast):
        assert len(result["confirmed_ratios"]) == 3
        assert result["worst_to_ordinary"] == max(result["confirmed_ratios"].values())
        cells = {
            f"{name} / {label}": cell["ms_per_event"]
            for name, row in result["filters"].items()
            for label, cell in row.items()
            if isinstance(cell, dict)
        }
        slowest = sorted(cells, key=lambda c: cells[c], reverse=True)[:3]
        assert set(result["confirmed_ratios"]) == set(slowest)
    assert slow["passed"] is True
    assert fast["passed"] is False
