from __future__ import annotations

import pytest

from generation.errors import InvalidRequest
from generation.queue import QueueService
from generation.queue.eta import ThroughputEstimator
from tests.generation.queue.conftest import request


def test_estimates_follow_a_moving_average_per_model_size_and_steps() -> None:
    estimator = ThroughputEstimator(smoothing=0.5)
    small = request(width=64, height=64, steps=10)
    estimator.record(small, images=4, seconds=4.0)  # 1 s per image
    assert estimator.estimate(small) == pytest.approx(1.0)
    assert estimator.estimate(request(width=64, height=64, steps=10, count=3)) == pytest.approx(3)
    estimator.record(small, images=1, seconds=3.0)  # slower now: halfway to 3 s
    assert estimator.estimate(small) == pytest.approx(2.0)


def test_an_unmeasured_size_borrows_the_measured_cost_per_pixel_and_step() -> None:
    estimator = ThroughputEstimator(smoothing=1.0)
    estimator.record(request(width=64, height=64, steps=10), images=1, seconds=1.0)
    bigger = request(width=128, height=128, steps=20)  # 4× pixels × 2× steps
    assert estimator.estimate(bigger) == pytest.approx(8.0)


async def test_an_unknown_priority_class_is_refused_naming_the_field(
    service: QueueService,
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await service.submit(
            guild_id="g", channel_id="c", user_id="u", request=request(), priority="vip"
        )
    assert caught.value.field == "priority" and "booster" in str(caught.value)
