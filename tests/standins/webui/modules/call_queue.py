"""Stand-in of modules/call_queue.py (v1.10.1): one lock every GPU job holds (the real one is a FIFOLock), and
the wrapper the UI's generate/train buttons run through: queued under its `task(...)` id, then current while
it holds the lock, with `shared.state` begun and ended around it."""
import html
import threading

from modules import progress, shared

queue_lock = threading.Lock()


def wrap_queued_call(func):
    def f(*args, **kwargs):
        with queue_lock:
            return func(*args, **kwargs)
    return f


def wrap_gradio_gpu_call(func, extra_outputs=None):
    def f(*args, **kwargs):
        if args and isinstance(args[0], str) and args[0].startswith("task(") and args[0].endswith(")"):
            id_task = args[0]
            progress.add_task_to_queue(id_task)
        else:
            id_task = None
        with queue_lock:
            shared.state.begin(job=id_task)
            progress.start_task(id_task)
            try:
                res = func(*args, **kwargs)
                progress.record_results(id_task, res)
            finally:
                progress.finish_task(id_task)
            shared.state.end()
        return res
    return wrap_gradio_call(f, extra_outputs=extra_outputs)


def wrap_gradio_call(func, extra_outputs=None, add_stats=False):
    def f(*args, **kwargs):
        try:
            res = list(func(*args, **kwargs))
        except Exception as e:
            shared.state.job = ""
            shared.state.job_count = 0
            message = html.escape(f"{type(e).__name__}: {e}")
            res = list(extra_outputs or [None, ""]) + [f"<div class='error'>{message}</div>"]
        shared.state.skipped = False
        shared.state.interrupted = False
        shared.state.job_count = 0
        return tuple(res)
    return f
