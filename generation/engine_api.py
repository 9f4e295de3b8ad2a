"""The one interface everything else uses to make images.

The in-process engine, a remote Redis worker and test fakes all satisfy ``ImageEngine``: a batch
of requests in, one result per request out, progress per step, cancellation by request id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from generation.requests import GenerationRequest, GenerationResult, StepProgress

ProgressCallback = Callable[[StepProgress], None]
CancelCheck = Callable[[str], bool]


class ImageEngine(Protocol):
    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        on_progress: ProgressCallback | None = None,
        is_cancelled: CancelCheck | None = None,
    ) -> list[GenerationResult]:
        """Run ``requests`` (compatible by ``batch_key``) as one pipeline call where possible.

        Blocking; callers on an event loop run it in a worker thread. A request whose
        ``is_cancelled(request_id)`` turns true gets ``cancelled=True`` and no images; when all
        of a batch is cancelled the pipeline stops at the next step.
        """
        ...
