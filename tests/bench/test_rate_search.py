"""Table tests of ``make bench``'s rate searches (bench/rate_search.py): which rates they try and which
they answer, against a fake pipeline that keeps up with every rate up to a capacity."""

from __future__ import annotations

from typing import Any

import pytest
from rate_search import rate_text, recheck_max, sustained_max


class FakePipeline:
    """Keeps up with any rate up to ``capacity`` (a float tolerance for the tenths' arithmetic)."""

    def __init__(self, capacity: float) -> None:
        self.capacity = capacity
        self.tried: list[float] = []

    async def step_at(self, rate: float) -> dict[str, Any]:
        self.tried.append(round(rate, 1))
        return {"offered_per_s": round(rate, 1), "kept_up": rate <= self.capacity + 1e-6}


@pytest.mark.parametrize(
    ("capacity", "tried", "best"),
    [
        (2000.0, [500, 600, 700, 800, 900, 1000, 1100, 1200], 1200),  # up to 120 % at most
        (730.0, [500, 600, 700, 800], 700),  # up until a step fails
        (500.0, [500, 600], 500),
        (450.0, [500, 400], 400),  # down from 40 % when 50 % fails
        (150.0, [500, 400, 300, 200, 100], 100),
        (50.0, [500, 400, 300, 200, 100], 0),  # none kept up with
    ],
)
async def test_sustained_max_walks_tenths_of_the_burst_figure(
    capacity: float, tried: list[float], best: float
) -> None:
    fake = FakePipeline(capacity)
    result = await sustained_max(fake.step_at, 1000.0)
    assert fake.tried == tried
    assert result["sustained_per_s"] == best
    assert result["of_burst_max"] == best / 1000


@pytest.mark.parametrize(
    ("capacity", "tried", "max_per_s", "share"),
    [
        (700.0, [600], 600, 1.0),  # still kept up with: the ramp's figure stands
        (560.0, [600, 540], 540, 0.9),  # the host slowed by a tenth
        (400.0, [600, 540, 480, 420, 360], 360, 0.6),
        (100.0, [600, 540, 480, 420, 360, 300], 300, 0.5),  # never below half
    ],
)
async def test_recheck_lowers_the_ramp_maximum_to_what_is_kept_up_with_now(
    capacity: float, tried: list[float], max_per_s: float, share: float
) -> None:
    fake = FakePipeline(capacity)
    result = await recheck_max(fake.step_at, 600.0)
    assert fake.tried == tried
    assert (result["max_per_s"], result["of_ramp_max"]) == (max_per_s, share)
    assert len(result["steps"]) == len(tried)


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (579.0, "579.0"),
        ({"min": 521.1, "max": 579.0}, "521.1-579.0"),
        ({"min": 579.0, "max": 579.0}, "579.0"),
    ],
)
def test_rate_text_names_one_rate_or_the_range(rate: dict[str, Any] | float, text: str) -> None:
    assert rate_text(rate) == text
