"""The image check: NudeNet's bundled detector plus the model's own safety-checker verdict.

Fail closed: an image that cannot be decoded, is too large, is animated, or meets a classifier
error gets the status ``unchecked``, and the policy withholds it. Nothing here reports an image as
safe without the classifier having looked at it.
"""

from __future__ import annotations

import asyncio
import io
import math
import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from PIL import Image, ImageFilter
from pydantic import BaseModel, ConfigDict, Field

from safety.config import SafetyConfig
from safety.errors import ClassifierUnavailable, InvalidSafetyInput

ImageStatus = Literal["safe", "flagged", "unchecked"]


class Detector(Protocol):
    """What the checker needs from a classifier (NudeNet's ``NudeDetector`` fits)."""

    def detect(self, image: Any) -> list[dict[str, Any]]: ...


class Detection(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str
    score: float
    box: list[int] = Field(default_factory=list, description="x, y, width, height in pixels.")


class ImageVerdict(BaseModel):
    """The verdict on one image. Only ``status == "safe"`` may be posted without a decision."""

    model_config = ConfigDict(frozen=True)

    index: int
    status: ImageStatus
    reasons: list[str] = Field(default_factory=list, description="Why flagged or unchecked.")
    flagged_labels: list[Detection] = Field(default_factory=list)
    detections: list[Detection] = Field(default_factory=list, description="Everything detected.")
    model_nsfw: bool | None = None
    width: int | None = None
    height: int | None = None
    seconds: float = 0.0

    @property
    def safe(self) -> bool:
        return self.status == "safe"


class ImageChecker:
    """Checks generated images; thread-safe, the detector is loaded once on first use."""

    def __init__(
        self, config: SafetyConfig | None = None, detector: Detector | None = None
    ) -> None:
        self.config = config or SafetyConfig()
        self._detector = detector
        self._lock = threading.Lock()

    def detector(self) -> Detector:
        with self._lock:
            if self._detector is None:
                try:
                    from nudenet import NudeDetector

                    path = self.config.nudenet_model
                    self._detector = NudeDetector(model_path=str(path) if path else None)
                except Exception as exc:  # any failure to load means: nothing gets checked
                    raise ClassifierUnavailable(
                        f"the NudeNet image classifier cannot be loaded: {exc}"
                    ) from exc
            return self._detector

    def check_batch(
        self, images: Sequence[bytes], model_nsfw: Sequence[bool | None] | None = None
    ) -> list[ImageVerdict]:
        """Check images (encoded bytes: PNG, JPEG, WebP…); one verdict per image, in order.

        ``model_nsfw`` holds the model's own StableDiffusionSafetyChecker verdicts where the
        model has one (``GeneratedImage.model_nsfw``).
        """
        flags = list(model_nsfw) if model_nsfw is not None else [None] * len(images)
        if len(flags) != len(images):
            raise InvalidSafetyInput(
                "model_nsfw", f"got {len(flags)} verdicts for {len(images)} images"
            )
        return [
            self._check_one(i, data, flag)
            for i, (data, flag) in enumerate(zip(images, flags, strict=True))
        ]

    def check(self, image: bytes, model_nsfw: bool | None = None) -> ImageVerdict:
        return self.check_batch([image], [model_nsfw])[0]

    async def check_batch_async(
        self, images: Sequence[bytes], model_nsfw: Sequence[bool | None] | None = None
    ) -> list[ImageVerdict]:
        """``check_batch`` in a worker thread, off the event loop."""
        return await asyncio.to_thread(self.check_batch, images, model_nsfw)

    def _check_one(self, index: int, data: bytes, model_nsfw: bool | None) -> ImageVerdict:
        started = time.perf_counter()

        def unchecked(reason: str, size: tuple[int, int] | None = None) -> ImageVerdict:
            return ImageVerdict(
                index=index,
                status="unchecked",
                reasons=[reason],
                model_nsfw=model_nsfw,
                width=size[0] if size else None,
                height=size[1] if size else None,
                seconds=time.perf_counter() - started,
            )

        if not isinstance(data, bytes | bytearray) or not data:
            return unchecked("no image data")
        if len(data) > self.config.max_image_bytes:
            return unchecked(
                f"the file is {len(data):,} bytes; at most "
                f"{self.config.max_image_bytes:,} are checked"
            )
        try:
            pixels, size = self._decode(bytes(data))
        except _Unreadable as exc:
            return unchecked(str(exc), exc.size)
        try:
            detections = [
                Detection(
                    label=str(d["class"]), score=round(float(d["score"]), 4), box=list(d["box"])
                )
                for d in self.detector().detect(pixels)
            ]
        except ClassifierUnavailable as exc:
            return unchecked(str(exc), size)
        except Exception as exc:  # a classifier failure or odd output must never let it through
            return unchecked(f"the classifier failed on this image ({type(exc).__name__})", size)
        thresholds = self.config.nudenet_thresholds
        flagged = [
            d
            for d in detections
            if d.score >= thresholds.get(d.label, math.inf) and not self._whole_frame(d, size)
        ]
        reasons = [f"{d.label} {d.score:.2f} ≥ {thresholds[d.label]:.2f}" for d in flagged]
        if model_nsfw:
            reasons.append("the model's own safety checker flagged it")
        return ImageVerdict(
            index=index,
            status="flagged" if reasons else "safe",
            reasons=reasons,
            flagged_labels=flagged,
            detections=detections,
            model_nsfw=model_nsfw,
            width=size[0],
            height=size[1],
            seconds=time.perf_counter() - started,
        )

    def _whole_frame(self, detection: Detection, size: tuple[int, int]) -> bool:
        """A box spanning nearly the whole image is no body part: NudeNet gives one for smooth
        whole-frame graphics (a colour wheel scored 0.83 as exposed buttocks)."""
        if len(detection.box) != 4 or self.config.max_box_fraction >= 1.0:
            return False
        _x, _y, width, height = detection.box
        limit = self.config.max_box_fraction
        return width > limit * size[0] and height > limit * size[1]

    def _decode(self, data: bytes) -> tuple[Any, tuple[int, int]]:
        """Encoded bytes → a BGR array for NudeNet; the size is read before any pixel is."""
        import numpy as np

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data))
                size = image.size
                if size[0] * size[1] > self.config.max_image_pixels:
                    raise _Unreadable(
                        f"the image is {size[0]}×{size[1]} pixels; at most "
                        f"{self.config.max_image_pixels:,} pixels are checked",
                        size,
                    )
                if getattr(image, "n_frames", 1) > 1:
                    raise _Unreadable("animated images are not checked", size)
                rgb = image.convert("RGB")
        except _Unreadable:
            raise
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise _Unreadable("the image has too many pixels to be checked", None) from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise _Unreadable(f"not a readable image ({type(exc).__name__})", None) from exc
        array = np.asarray(rgb)[:, :, ::-1].copy()  # RGB → BGR, as OpenCV decodes
        return array, size


class _Unreadable(Exception):
    def __init__(self, message: str, size: tuple[int, int] | None) -> None:
        super().__init__(message)
        self.size = size


def blur_image(data: bytes, fraction: float = 0.06) -> bytes:
    """A strongly blurred PNG of ``data``, for results posted behind a spoiler.

    The radius scales with the image so a large picture is as unrecognisable as a small one.
    Raises ``InvalidSafetyInput`` when ``data`` is not a readable image.
    """
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidSafetyInput("image", f"not a readable image ({type(exc).__name__})") from exc
    rgb = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    radius = max(2.0, max(rgb.size) * fraction)
    blurred = rgb.filter(ImageFilter.GaussianBlur(radius))
    out = io.BytesIO()
    blurred.save(out, format="PNG")
    return out.getvalue()
