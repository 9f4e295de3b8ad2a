"""Image generation: requests and results, the diffusers engine, the queue and its workers.

Heavy imports (torch, diffusers, compel) live in the engine modules only, so importing
``generation`` or its request models stays fast.
"""

import logging

from generation.errors import GenerationError, InvalidRequest, ModelNotFound
from generation.requests import (
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    PromptEdit,
    StepProgress,
    Timings,
)

# torchao (quantized loading) is imported by diffusers and transformers; at import it logs the CUDA
# kernels a CPU build lacks, and torch warns about enums it registers. Neither concerns a user.
for _noisy in ("torchao", "torch.utils._pytree"):
    logging.getLogger(_noisy).setLevel(logging.ERROR)

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
