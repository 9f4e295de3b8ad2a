"""Time estimates from a moving average of measured seconds per image per (model, size, steps).

An unmeasured combination borrows the average cost of one megapixel·step across everything seen
so far, so the first ETA of a new size is in the right order of magnitude rather than absent.
"""

from __future__ import annotations

from generation.requests import GenerationRequest

Key = tuple[str, int, int, int]


def _work(key: Key) -> float:
    """Megapixel·steps of one image: what the denoising loop's cost grows with."""
    _model, width, height, steps = key
    return width * height / 1e6 * steps


class ThroughputEstimator:
    def __init__(self, smoothing: float = 0.3, seconds_per_unit: float = 0.2) -> None:
        self._smoothing = smoothing
        self._per_image: dict[Key, float] = {}
        self._per_unit = seconds_per_unit
        """Seconds per megapixel·step; a GPU-ish guess until the first measurement."""

    @staticmethod
    def key(request: GenerationRequest) -> Key:
        return (request.model, request.width, request.height, request.steps)

    def record(self, request: GenerationRequest, images: int, seconds: float) -> None:
        """A batch of ``images`` images like ``request`` took ``seconds`` in all."""
        if images <= 0 or seconds < 0:
            return
        per_image = seconds / images
        key = self.key(request)
        old = self._per_image.get(key)
        self._per_image[key] = (
            per_image if old is None else old + self._smoothing * (per_image - old)
        )
        unit = per_image / max(_work(key), 1e-9)
        self._per_unit += self._smoothing * (unit - self._per_unit)

    def seconds_per_image(self, request: GenerationRequest) -> float:
        return self.seconds_for(self.key(request), 1)

    def seconds_for(self, key: Key, images: int) -> float:
        """Seconds the engine needs for ``images`` images of the kind ``key`` names."""
        known = self._per_image.get(key)
        return (known if known is not None else self._per_unit * _work(key)) * images

    def estimate(self, request: GenerationRequest) -> float:
        """Seconds the engine needs for all of the request's images."""
        return self.seconds_for(self.key(request), request.count)
