"""The image check on benign photographs and graphics that ship inside packages (no downloads,
never explicit material), and the whole-frame rule that stops a colour wheel reading as a body."""

from __future__ import annotations

from typing import Any

import pytest

from safety.config import SafetyConfig
from safety.images import ImageChecker
from tests.safety.conftest import noise_png

pytest.importorskip("skimage")
pytest.importorskip("matplotlib")

from bench.image_samples import package_images, png


class _Boxes:
    def __init__(self, boxes: list[list[int]]) -> None:
        self.boxes = boxes

    def detect(self, image: Any) -> list[dict[str, Any]]:
        return [{"class": "BUTTOCKS_EXPOSED", "score": 0.9, "box": box} for box in self.boxes]


def test_no_shipped_photograph_or_graphic_is_flagged(image_checker: ImageChecker) -> None:
    samples = list(package_images(faces=10))
    assert len(samples) >= 30
    verdicts = image_checker.check_batch([png(image) for _name, image in samples])
    flagged = [
        (name, v.reasons)
        for (name, _image), v in zip(samples, verdicts, strict=True)
        if v.status != "safe"
    ]
    assert flagged == []


def test_the_colour_wheel_is_seen_but_not_flagged(image_checker: ImageChecker) -> None:
    import skimage.data
    from PIL import Image

    wheel = png(Image.fromarray(skimage.data.colorwheel()).convert("RGB"))
    verdict = image_checker.check(wheel)
    assert verdict.status == "safe"
    # NudeNet still reports its whole-frame "buttocks"; the checker ignores that box.
    assert any(d.label == "BUTTOCKS_EXPOSED" for d in verdict.detections)


def test_only_boxes_spanning_nearly_the_whole_frame_are_ignored() -> None:
    whole = ImageChecker(detector=_Boxes([[0, 0, 31, 31]]))  # 97 % of a 32 px image
    assert whole.check(noise_png(32)).status == "safe"
    part = ImageChecker(detector=_Boxes([[0, 0, 31, 20]]))  # full width, 62 % of the height
    assert part.check(noise_png(32)).status == "flagged"
    every_box = ImageChecker(SafetyConfig(max_box_fraction=1.0), detector=_Boxes([[0, 0, 32, 32]]))
    assert every_box.check(noise_png(32)).status == "flagged"
