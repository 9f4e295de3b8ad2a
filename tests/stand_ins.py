"""Stand-ins the test folders share."""

from __future__ import annotations

from typing import Any


class SwitchDetector:
    """Stands in for NudeNet, which rightly never flags the tiny model's noise, so a test can
    reach the flagged-image paths by turning ``flag`` on."""

    def __init__(self) -> None:
        self.flag = False

    def detect(self, image: Any) -> list[dict[str, Any]]:
        if not self.flag:
            return []
        return [{"class": "FEMALE_BREAST_EXPOSED", "score": 0.93, "box": [0, 0, 8, 8]}]
