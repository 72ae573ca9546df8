"""A second Train while a job runs is refused before anything is queued, with the running job named: the tab
says so (and closes the progress bar its click started), the API answers 409 with the job's id."""
import threading

from test_train_glue import _api_client, webui  # noqa: F401  (the webui fixture)

from sd_hypernet.train import JobManager


def _running_job(manager):
    release = threading.Event()
    job = manager.create("first", lambda job: release.wait(30))
    job.thread = threading.Thread(target=job.run, daemon=True)
    job.thread.start()
    return job, release


def test_second_train_is_refused_by_the_api_with_409(webui):  # noqa: F811
    from modules import progress

    manager = JobManager()
    job, release = _running_job(manager)
    try:
        client = _api_client(webui.host, manager)
        r = client.post("/sdapi/v1/hypernet/train", json={
            "network": "net", "data_root": str(webui.data), "output_dir": str(webui.tmp / "o"), "steps": 2})
        assert r.status_code == 409, r.text
        assert r.json()["job_id"] == job.id and job.id in r.json()["detail"]
        assert "a training job is running" in r.json()["detail"]
        assert list(manager.jobs) == [job.id] and progress.pending_tasks == {}
    finally:
        release.set()
        job.wait(10)


def test_second_train_in_the_tab_is_refused_and_its_bar_closed(webui):  # noqa: F811
    from modules import progress

    from sd_hypernet.hosts.ui import tab

    manager = JobManager()
    job, release = _running_job(manager)
    try:
        frames = list(tab.run_training(webui.host, {}, "task(second)", "net.safetensors",
                                       {"data_root": str(webui.data), "output_dir": str(webui.tmp / "o")},
                                       manager=manager))
        assert len(frames) == 1 and "a training job is running" in frames[0][0] and job.id in frames[0][0]
        assert list(manager.jobs) == [job.id]
        # the click's bar polls task(second): it is over, so the bar closes at once
        assert "task(second)" not in progress.pending_tasks and "task(second)" in progress.finished_tasks
        # the running job's status carries the mark the Train button's JS reads
        assert "data-hypernet-job-running" in tab.job_status_html(job.to_dict())
    finally:
        release.set()
        job.wait(10)
    assert "data-hypernet-job-running" not in tab.job_status_html(job.to_dict())
    assert tab.refusal_html("x") and manager.active() is None
