"""False alarms of the image check on benign photographs and graphics, before and after tuning.

Runs NudeNet once per image (package photographs and graphics, and colour-map renders; see
``bench/image_samples.py``) and applies two configurations to the same detections side by side:
the thresholds before issue 13 (breasts 0.45, buttocks 0.5, every box counts) and the shipped
ones (per-class thresholds, whole-frame boxes ignored). Prints the flagged images of each set,
the highest benign score per label, and the cost per image; the last line is one JSON object.

    .venv/bin/python -m bench.safety_images [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from bench.image_samples import colormap_renders, package_images, png
from safety.config import SafetyConfig
from safety.images import ImageChecker

BEFORE = SafetyConfig(
    nudenet_thresholds={
        "FEMALE_BREAST_EXPOSED": 0.45,
        "FEMALE_GENITALIA_EXPOSED": 0.35,
        "MALE_GENITALIA_EXPOSED": 0.35,
        "ANUS_EXPOSED": 0.35,
        "BUTTOCKS_EXPOSED": 0.5,
    },
    max_box_fraction=1.0,
)
SHIPPED = SafetyConfig()


class _Recorder:
    """Runs the real detector once per image and replays its detections for each config."""

    def __init__(self) -> None:
        from nudenet import NudeDetector

        self.detector = NudeDetector()
        self.last: list[dict[str, Any]] = []
        self.seconds: list[float] = []

    def detect(self, image: Any) -> list[dict[str, Any]]:
        started = time.perf_counter()
        self.last = self.detector.detect(image)
        self.seconds.append(time.perf_counter() - started)
        return self.last


class _Replay:
    def __init__(self, recorder: _Recorder) -> None:
        self.recorder = recorder

    def detect(self, image: Any) -> list[dict[str, Any]]:
        return self.recorder.last


def measure(images: list[tuple[str, bytes]]) -> dict[str, Any]:
    recorder = _Recorder()
    live = ImageChecker(BEFORE, detector=recorder)  # type: ignore[arg-type]
    shipped = ImageChecker(SHIPPED, detector=_Replay(recorder))  # type: ignore[arg-type]
    before_flagged, after_flagged = [], []
    highest: dict[str, float] = {}
    for name, data in images:
        before = live.check(data)
        after = shipped.check(data)
        for detection in before.detections:
            if detection.label.endswith("_EXPOSED"):
                highest[detection.label] = max(highest.get(detection.label, 0.0), detection.score)
        if before.status == "flagged":
            before_flagged.append(f"{name} ({'; '.join(before.reasons)})")
        if after.status == "flagged":
            after_flagged.append(f"{name} ({'; '.join(after.reasons)})")
    return {
        "images": len(images),
        "flagged_before": len(before_flagged),
        "flagged_after": len(after_flagged),
        "before": before_flagged,
        "after": after_flagged,
        "highest_exposed_score": {k: round(v, 3) for k, v in sorted(highest.items())},
        "detector_ms_p50": round(statistics.median(recorder.seconds) * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the colour maps")
    args = parser.parse_args()
    photos = [(name, png(image)) for name, image in package_images()]
    renders = [(name, png(image)) for name, image in colormap_renders(args.quick)]
    results = {"package_images": measure(photos), "colormap_renders": measure(renders)}
    for title, result in results.items():
        print(
            f"{title}: {result['images']} images, flagged before tuning "
            f"{result['flagged_before']}, after {result['flagged_after']}"
        )
        for line in result["after"]:
            print(f"  still flagged: {line}")
        print(f"  highest benign score per exposed label: {result['highest_exposed_score']}")
    summary = {
        title: {k: v for k, v in result.items() if k not in ("before", "after")}
        for title, result in results.items()
    }
    summary["package_images"]["flagged_before_names"] = results["package_images"]["before"]
    summary["quick"] = args.quick
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
