"""Stand-in of modules/shared_state.py: the job state the sampler and progress API read."""
import time


class State:
    skipped = False
    interrupted = False
    stopping_generation = False
    job = ""
    job_no = 0
    job_count = 0
    processing_has_refined_job_count = False
    sampling_step = 0
    sampling_steps = 0
    textinfo = None
    time_start = None
    current_image = None
    id_live_preview = 0

    def interrupt(self):
        self.interrupted = True

    def skip(self):
        self.skipped = True

    def nextjob(self):
        self.job_no += 1
        self.sampling_step = 0

    def begin(self, job="(unknown)"):
        self.sampling_step = 0
        self.time_start = time.time()
        self.textinfo = None
        self.current_image = None
        self.id_live_preview = 0
        self.job_count = -1
        self.processing_has_refined_job_count = False
        self.job_no = 0
        self.skipped = False
        self.interrupted = False
        self.job = job

    def end(self):
        self.job = ""
        self.job_count = 0

    def set_current_image(self):
        pass  # no live previews in the stand-in

    def assign_current_image(self, image):
        self.current_image = image
        self.id_live_preview += 1
