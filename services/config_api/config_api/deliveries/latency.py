"""Fixed latency bins for the status rollups, and percentiles read back from them (pure).

Bins grow by a factor of 1.25 from 1 ms to ~2 min, so a percentile read from a histogram is
within about ±12 % of the exact value (linear interpolation inside the bin). The edges are part
of the stored data: changing them means migrating ``delivery_stats.latency_hist``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

BIN_EDGES_MS: tuple[int, ...] = tuple(sorted({round(1.25**k) for k in range(0, 55)}))
"""Upper edges (inclusive) of the bins; a last, open bin holds everything above."""

BIN_COUNT = len(BIN_EDGES_MS) + 1


def bin_index(response_ms: int) -> int:
    """The bin of one latency (negative values count as 0 ms)."""
    return bisect_left(BIN_EDGES_MS, max(0, response_ms))


def empty_histogram() -> list[int]:
    """A histogram with every bin at zero."""
    return [0] * BIN_COUNT


def merge(histograms: Sequence[Sequence[int]]) -> list[int]:
    """Bin-wise sum (shorter inputs are padded with zeros)."""
    out = empty_histogram()
    full = [h for h in histograms if len(h) == BIN_COUNT]
    if full:
        out = [sum(column) for column in zip(*full, strict=True)]  # C-level loops: the 7d window merges 168
    for hist in histograms:
        if len(hist) != BIN_COUNT:
            for i, count in enumerate(hist[:BIN_COUNT]):
                out[i] += count
    return out


def percentile(histogram: Sequence[int], q: float) -> int | None:
    """The q-quantile (0 < q <= 1) in ms, or None when the histogram is empty."""
    if not 0 < q <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {q}")
    total = sum(histogram)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(histogram):
        if count and seen + count >= rank:
            if i >= len(BIN_EDGES_MS):
                return BIN_EDGES_MS[-1]  # open last bin: report its lower edge
            low = BIN_EDGES_MS[i - 1] if i else 0
            high = BIN_EDGES_MS[i]
            return round(low + (high - low) * (rank - seen) / count)
        seen += count
    return BIN_EDGES_MS[-1]  # unreachable unless rounding; keeps mypy's return honest
