"""Stand-in of modules/shared_state.py: the job state the sampler and progress API read."""


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

    def interrupt(self):
        self.interrupted = True

    def skip(self):
        self.skipped = True

    def nextjob(self):
        self.job_no += 1
        self.sampling_step = 0

    def begin(self, job="(unknown)"):
        self.sampling_step = 0
        self.job_count = -1
        self.processing_has_refined_job_count = False
        self.job_no = 0
        self.skipped = False
        self.interrupted = False
        self.job = job

    def end(self):
        self.job = ""
        self.job_count = 0
