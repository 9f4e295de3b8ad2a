"""The fair, persistent job queue: store, scheduler, service, in-process runner, Redis workers.

Redis and Prometheus are imported by their own modules only, so the embedded default stays light.
"""

from generation.queue.jobs import (
    Job,
    JobNotFound,
    JobStatus,
    MemberJob,
    NotAllowed,
    Origin,
    QueueEvent,
    Refusal,
    Ticket,
    WorkerInfo,
)
from generation.queue.service import Limits, QueueService
from generation.queue.store import (
    JobStore,
    StorageUnwritable,
    StoreCorrupt,
    check_images_folder,
    check_state_file,
)

__all__ = [
    "Job",
    "JobNotFound",
    "JobStatus",
    "JobStore",
    "Limits",
    "MemberJob",
    "NotAllowed",
    "Origin",
    "QueueEvent",
    "QueueService",
    "Refusal",
    "StorageUnwritable",
    "StoreCorrupt",
    "Ticket",
    "WorkerInfo",
    "check_images_folder",
    "check_state_file",
]
