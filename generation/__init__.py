"""Image generation: requests and results, the diffusers engine, the queue and its workers.

Heavy imports (torch, diffusers, compel) live in the engine modules only, so importing
``generation`` or its request models stays fast.
"""

from generation.errors import GenerationError, InvalidRequest, ModelNotFound
from generation.requests import (
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    PromptEdit,
    StepProgress,
    Timings,
)

__all__ = [
    "GeneratedImage",
    "GenerationError",
    "GenerationRequest",
    "GenerationResult",
    "InvalidRequest",
    "ModelNotFound",
    "PromptEdit",
    "StepProgress",
    "Timings",
]
