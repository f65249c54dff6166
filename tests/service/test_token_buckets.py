"""Token bucket arithmetic, with an explicit clock."""

from __future__ import annotations

from service.security.limits import TokenBuckets


def test_burst_then_refill_at_the_configured_rate() -> None:
    buckets = TokenBuckets(per_minute=60, burst=3)
    assert [buckets.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", now=0.0) == 1.0  # one token a second
    assert buckets.take("a", now=0.5) == 0.5
    assert buckets.take("a", now=1.0) == 0.0
    assert buckets.take("b", now=1.0) == 0.0  # every key has its own bucket


def test_memory_stays_bounded() -> None:
    buckets = TokenBuckets(per_minute=60, burst=1, max_keys=100)
    for i in range(1000):
        buckets.take(f"ip:{i}", now=0.0)
    assert len(buckets._buckets) == 100
