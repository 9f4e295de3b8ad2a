"""Members' input pictures on disk, once per content hash, beside the job store's images.

A job row keeps the picture's sha256 (``GenerationRequest.init_image_sha256``), never its bytes:
a 1 MB picture as base64 in every row of a reroll chain would bloat the state file and every
read of the queue. The file is written atomically (a temporary name, fsync, rename) and only
once per hash, so two jobs from the same picture share it and a crash never leaves half a file
under a hash's name. ``prune`` deletes the pictures no stored job names any more, after the
job store's retention has deleted their jobs.

A request that crosses Redis to a remote worker carries the bytes again (``attach``): the worker
has no access to this disk.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from generation.errors import InvalidRequest
from generation.requests import GenerationRequest

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
PRUNE_GRACE_SECONDS = 3600.0
"""A picture younger than this is kept even when no job names it yet (its job is being added)."""


class InputMissing(InvalidRequest):
    """A job names an input picture that is no longer stored (the retention removed it)."""

    def __init__(self, digest: str) -> None:
        super().__init__(
            "image",
            f"the input picture {digest[:12]}… is no longer stored (removed after the "
            "retention); attach it again",
        )


class InputStore:
    """Content-addressed PNG files: ``<folder>/<sha256>.png``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, digest: str) -> Path:
        if not _DIGEST.match(digest):
            raise InvalidRequest("init_image_sha256", f"not a sha256 hex digest: {digest[:80]!r}")
        return self.folder / f"{digest}.png"

    def put(self, png: bytes) -> str:
        """Store ``png`` (once per content) and return its sha256 hex digest."""
        digest = hashlib.sha256(png).hexdigest()
        path = self.path(digest)
        if path.exists():
            # Stored long ago (the same sketch attached again): its age restarts, so the grace
            # period covers it until its new job's row names it, as it covers a new file.
            try:
                os.utime(path)
                return digest
            except FileNotFoundError:  # pruned just now: write it again
                pass
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=self.folder, prefix=".partial-", suffix=".png")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(png)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise InputMissing(digest) from None

    def prune(self, keep: Iterable[str], now: float | None = None) -> int:
        """Delete every stored picture not in ``keep`` older than the grace period (a picture
        whose job is being added right now is not yet named by any row); returns how many."""
        if not self.folder.is_dir():
            return 0
        wanted = set(keep)
        cutoff = (time.time() if now is None else now) - PRUNE_GRACE_SECONDS
        removed = 0
        for path in self.folder.iterdir():
            stale = path.stat().st_mtime < cutoff
            if stale and (path.name.startswith(".partial-") or path.stem not in wanted):
                path.unlink(missing_ok=True)
                removed += path.name.endswith(".png") and not path.name.startswith(".")
        return removed

    def detach(self, request: GenerationRequest) -> GenerationRequest:
        """``request`` as a job row keeps it: the input pictures (the init image, references,
        the ControlNet picture) stored here, only their hashes in the request."""
        update: dict[str, object] = {}
        if request.references and any(r.png is not None for r in request.references):
            update["references"] = [
                r
                if r.png is None
                else r.model_copy(update={"png": None, "sha256": self.put(r.png)})
                for r in request.references
            ]
        control = request.control
        if control is not None and control.png is not None:
            update["control"] = control.model_copy(
                update={"png": None, "sha256": self.put(control.png)}
            )
        if request.init_image is not None:
            update |= {"init_image": None, "init_image_sha256": self.put(request.init_image)}
        return request.model_copy(update=update) if update else request

    def attach_guides(self, request: GenerationRequest) -> GenerationRequest:
        """``request`` with its references' and ControlNet picture's bytes back; one the
        retention removed stays without, and the engine refuses it naming its option."""
        update: dict[str, object] = {}
        if any(r.png is None for r in request.references):
            update["references"] = [
                r if r.png is not None else r.model_copy(update={"png": self._maybe(r.sha256)})
                for r in request.references
            ]
        control = request.control
        if control is not None and control.png is None:
            update["control"] = control.model_copy(update={"png": self._maybe(control.sha256)})
        return request.model_copy(update=update) if update else request

    def _maybe(self, digest: str) -> bytes | None:
        try:
            return self.get(digest)
        except InputMissing:
            return None

    def attach(self, request: GenerationRequest) -> GenerationRequest:
        """``request`` as the engine needs it: the input picture's bytes back in it
        (``InputMissing`` when the retention removed them)."""
        if request.init_image is not None or request.init_image_sha256 is None:
            return request
        return request.model_copy(update={"init_image": self.get(request.init_image_sha256)})
