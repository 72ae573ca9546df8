"""The training HTTP routes: create, train, a job's progress, interrupt. Bad requests answer 4xx before
anything is queued (train_jobs checks them whole). Create, train and interrupt exist only where
the host serves its API (route_access)."""
from __future__ import annotations

from sd_hypernet.errors import HypernetError, UnknownNetwork
from sd_hypernet.train import jobs as train_jobs

from sd_hypernet.hosts import common
from sd_hypernet.hosts.routes.access import Routes
from sd_hypernet.hosts.training.jobs import create_network, interrupt, progress, start_training

PREFIX = "/sdapi/v1/hypernet"


def add_routes(host: common.Host, routes: Routes, manager: train_jobs.JobManager | None = None) -> None:
    from fastapi import Body, HTTPException
    from fastapi.responses import JSONResponse

    def guarded(fn, *args, status=400):
        try:
            return fn(*args)
        except train_jobs.TrainingBusy:
            raise
        except UnknownNetwork as e:  # the network to train is not there: 404, as GET network?name= answers
            raise HTTPException(status_code=404, detail=str(e))
        except HypernetError as e:
            raise HTTPException(status_code=status, detail=str(e))
        except (ValueError, TypeError) as e:  # a field of the wrong type ("steps": "many")
            raise HTTPException(status_code=400, detail=f"bad request: {e}")

    def create(body: dict = Body(...)):
        return guarded(create_network, host, body)

    def train(body: dict = Body(...)):
        body = dict(body)
        network = body.pop("network", None) or body.pop("hypernetwork_name", None)
        if not network:
            raise HTTPException(status_code=400, detail="'network' (the hypernetwork to train) is required")
        try:
            job = guarded(lambda: start_training(host, network, body, manager=manager))
        except train_jobs.TrainingBusy as e:  # guarded lets it through: a conflict, not a bad request
            return JSONResponse(status_code=409, content={"detail": str(e), "job_id": e.job.id})
        return job.to_dict()

    def job_progress(job_id: str):
        return guarded(progress, job_id, manager, status=404)

    def job_interrupt(job_id: str):
        return guarded(interrupt, job_id, manager, status=404)

    routes.write(f"{PREFIX}/create", create)
    routes.write(f"{PREFIX}/train", train)
    routes.read(f"{PREFIX}/train/{{job_id}}", job_progress)
    routes.write(f"{PREFIX}/train/{{job_id}}/interrupt", job_interrupt)
