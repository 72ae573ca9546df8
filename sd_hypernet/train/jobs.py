"""Background training jobs: an id, live progress (step, loss, lr, ETA, last snapshot), interrupt.

A job runs `work(job)` on a thread; the work reports through `job.update(progress)` and polls
`job.interrupt_requested`. Only one job runs at a time: they would share the one loaded UNet.
"""
from __future__ import annotations

import threading
import time
import traceback
import uuid

from ..errors import HypernetError


class TrainingBusy(HypernetError):
    """A job is already running (they would share the one loaded UNet); `job` is that job."""

    def __init__(self, job: "Job"):
        super().__init__(f"a training job is running: {job.name} (job {job.id}); interrupt it or wait for it "
                         f"to finish")
        self.job = job


class Job:
    def __init__(self, name: str, work):
        self.id = uuid.uuid4().hex[:12]
        self.name = name
        self.status = "queued"          # queued | running | done | interrupted | error
        self.progress: dict = {}
        self.error: str | None = None
        self.result = None
        self.created = time.time()
        self.finished_at: float | None = None
        self._work = work
        self._interrupt = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None

    @property
    def interrupt_requested(self) -> bool:
        return self._interrupt.is_set()

    def interrupt(self) -> None:
        self._interrupt.set()

    def update(self, progress) -> None:
        data = progress.to_dict() if hasattr(progress, "to_dict") else dict(progress)
        with self._lock:
            self.progress = data

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def run(self) -> None:
        """Run the work on the calling thread (a host queue may call this instead of start())."""
        self.status = "running"
        try:
            self.result = self._work(self)
            final = self.progress.get("status")
            self.status = final if final in ("done", "interrupted") else (
                "interrupted" if self.interrupt_requested else "done")
        except BaseException as e:  # the job records any failure for whoever polls it
            self.status = "error"
            self.error = f"{type(e).__name__}: {e}"
            traceback.print_exc()
        finally:
            self.finished_at = time.time()
            self._done.set()

    def to_dict(self) -> dict:
        with self._lock:
            progress = dict(self.progress)
        return {"id": self.id, "name": self.name, "status": self.status, "error": self.error,
                "created": self.created, "finished": self.finished_at, **{
                    k: progress.get(k) for k in ("phase", "step", "max_steps", "loss", "learn_rate", "epoch",
                                                 "eta_seconds", "steps_per_second", "last_snapshot", "last_preview",
                                                 "loss_plot", "final", "message", "warning",
                                                 "suggested_learn_rate")}}


class JobManager:
    def __init__(self, keep: int = 20):
        self.jobs: dict[str, Job] = {}
        self.keep = keep
        self._lock = threading.Lock()

    def active(self) -> Job | None:
        with self._lock:
            return next((j for j in self.jobs.values() if j.running), None)

    def check_idle(self) -> None:
        """Raise TrainingBusy while a job runs: the tab and the API ask this before anything is queued."""
        busy = self.active()
        if busy is not None:
            raise TrainingBusy(busy)

    def create(self, name: str, work) -> Job:
        """Register a job without starting it (the host may run it on its own queue)."""
        with self._lock:
            busy = next((j for j in self.jobs.values() if j.running), None)
            if busy is not None:  # checked again under the lock: two requests may pass check_idle together
                raise TrainingBusy(busy)
            job = Job(name, work)
            self.jobs[job.id] = job
            finished = [j for j in self.jobs.values() if not j.running and j is not job]
            for old in finished[:max(0, len(self.jobs) - self.keep)]:
                del self.jobs[old.id]
        return job

    def start(self, name: str, work) -> Job:
        """Create and run on a daemon thread; returns at once."""
        job = self.create(name, work)
        job.thread = threading.Thread(target=job.run, name=f"hypernet-train-{job.id}", daemon=True)
        job.thread.start()
        return job

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise HypernetError(f"no training job with id {job_id!r}")
        return job

    def interrupt(self, job_id: str) -> Job:
        job = self.get(job_id)
        job.interrupt()
        return job


manager = JobManager()
