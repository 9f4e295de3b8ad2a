from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from safety.config import SafetyConfig
from safety.errors import InvalidSafetyInput
from safety.images import ImageChecker, blur_image
from tests.safety.conftest import noise_png, png


class StubDetector:
    """Returns fixed detections, as NudeNet would for an image with those parts."""

    def __init__(self, detections: list[dict[str, Any]]) -> None:
        self.detections = detections
        self.seen: list[tuple[int, ...]] = []

    def detect(self, image: Any) -> list[dict[str, Any]]:
        self.seen.append(image.shape)
        return self.detections


class BrokenDetector:
    def detect(self, image: Any) -> list[dict[str, Any]]:
        raise RuntimeError("onnxruntime exploded")


_STUB_CHECKER = ImageChecker(detector=StubDetector([]))


def test_synthetic_images_are_checked_by_nudenet(image_checker: ImageChecker) -> None:
    images = [
        noise_png(128),
        png(Image.new("RGB", (96, 64), "white")),
        png(Image.new("RGB", (64, 96), (224, 172, 105))),  # a flat skin tone
        png(Image.new("RGBA", (64, 64), (0, 0, 0, 0))),
        png(Image.new("L", (64, 64), 128)),
        png(Image.new("RGB", (1, 1), "red")),
    ]
    verdicts = image_checker.check_batch(images)
    assert [v.index for v in verdicts] == list(range(len(images)))
    for verdict in verdicts:
        assert verdict.status == "safe", verdict
        assert verdict.safe and verdict.seconds > 0
    assert (verdicts[0].width, verdicts[0].height) == (128, 128)
    assert (verdicts[5].width, verdicts[5].height) == (1, 1)


def test_a_jpeg_is_checked_too(image_checker: ImageChecker) -> None:
    out = io.BytesIO()
    Image.new("RGB", (80, 80), "navy").save(out, format="JPEG")
    assert image_checker.check(out.getvalue()).status == "safe"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "no image data"),
        (b"not an image at all", "not a readable image"),
        (noise_png(64)[:200], "not a readable image"),  # truncated
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not a readable image"),
    ],
)
def test_unreadable_images_are_unchecked_never_safe(
    image_checker: ImageChecker, data: bytes, why: str
) -> None:
    verdict = image_checker.check(data)
    assert verdict.status == "unchecked" and not verdict.safe
    assert why in verdict.reasons[0]


def test_a_huge_image_is_refused_before_decoding(image_checker: ImageChecker) -> None:
    data = png(Image.new("1", (8000, 8000)))
    verdict = image_checker.check(data)
    assert verdict.status == "unchecked"
    assert (verdict.width, verdict.height) == (8000, 8000)
    assert "8000×8000" in verdict.reasons[0]


def test_an_animated_image_is_unchecked(image_checker: ImageChecker) -> None:
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
    assert image_checker.check(out.getvalue()).status == "unchecked"


def test_labels_flag_at_their_thresholds() -> None:
    detections = [
        {"class": "FEMALE_BREAST_EXPOSED", "score": 0.8, "box": [1, 2, 3, 4]},
        {"class": "FACE_FEMALE", "score": 0.9, "box": [0, 0, 5, 5]},
    ]
    strict = ImageChecker(detector=StubDetector(detections))
    verdict = strict.check(noise_png(32))
    assert verdict.status == "flagged"
    assert [d.label for d in verdict.flagged_labels] == ["FEMALE_BREAST_EXPOSED"]
    assert len(verdict.detections) == 2
    assert "FEMALE_BREAST_EXPOSED 0.80" in verdict.reasons[0]
    lenient = ImageChecker(
        SafetyConfig(nudenet_thresholds={"FEMALE_BREAST_EXPOSED": 0.9}),
        detector=StubDetector(detections),
    )
    assert lenient.check(noise_png(32)).status == "safe"


def test_the_detector_gets_a_bgr_array() -> None:
    stub = StubDetector([])
    ImageChecker(detector=stub).check(png(Image.new("RGBA", (40, 30))))
    assert stub.seen == [(30, 40, 3)]


def test_the_models_own_checker_flags_too(image_checker: ImageChecker) -> None:
    verdicts = image_checker.check_batch([noise_png(64), noise_png(64, 1)], [True, False])
    assert [v.status for v in verdicts] == ["flagged", "safe"]
    assert verdicts[0].model_nsfw is True
    assert "safety checker" in verdicts[0].reasons[0]


def test_model_verdicts_must_match_the_images(image_checker: ImageChecker) -> None:
    with pytest.raises(InvalidSafetyInput, match="model_nsfw"):
        image_checker.check_batch([noise_png(32)], [True, False])


def test_a_failing_classifier_withholds(tmp_path: Path) -> None:
    assert ImageChecker(detector=BrokenDetector()).check(noise_png(32)).status == "unchecked"
    odd_output = ImageChecker(detector=StubDetector([{"label": "FACE_FEMALE", "score": 0.9}]))
    assert odd_output.check(noise_png(32)).status == "unchecked"
    missing = ImageChecker(SafetyConfig(nudenet_model=tmp_path / "missing.onnx"))
    verdict = missing.check(noise_png(32))
    assert verdict.status == "unchecked" and "cannot be loaded" in verdict.reasons[0]


async def test_the_async_batch_runs_off_the_loop(image_checker: ImageChecker) -> None:
    verdicts = await image_checker.check_batch_async([noise_png(64), b"junk"])
    assert [v.status for v in verdicts] == ["safe", "unchecked"]


def test_blur_hides_detail_and_keeps_the_size() -> None:
    original = noise_png(128)
    blurred = Image.open(io.BytesIO(blur_image(original)))
    assert blurred.size == (128, 128)
    before = np.asarray(Image.open(io.BytesIO(original)), dtype=np.float32)
    after = np.asarray(blurred, dtype=np.float32)
    assert after.std() < before.std() / 4  # the noise is gone
    with pytest.raises(InvalidSafetyInput):
        blur_image(b"junk")


@pytest.mark.slow
def test_an_image_from_the_built_in_model_is_checked(
    image_checker: ImageChecker, tiny_cache: Path
) -> None:
    import torch
    from diffusers import AutoPipelineForText2Image

    from generation.tiny import ensure_tiny_model

    pipe = AutoPipelineForText2Image.from_pretrained(ensure_tiny_model("tiny", tiny_cache))
    pipe.set_progress_bar_config(disable=True)
    images = pipe(
        ["a castle", "a fox"],
        width=64,
        height=64,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
    ).images
    verdicts = image_checker.check_batch([png(image) for image in images], [None, None])
    assert [(v.width, v.height) for v in verdicts] == [(64, 64), (64, 64)]
    assert all(v.status in ("safe", "flagged") for v in verdicts)  # really checked
    assert all(v.seconds > 0 for v in verdicts)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_are_never_reported_safe(data: bytes) -> None:
    verdict = _STUB_CHECKER.check(b"\x89PNG\r\n\x1a\n" + data)
    assert verdict.status == "unchecked"
