"""The training job as a user lives it: progress that names its phase and never goes back, divergence explained
with a learning rate to try, a default size that follows the dataset with its cost shown first."""
import math
import types

import pytest
from PIL import Image
from train_helpers import latent_set, ldm_host, make_net, options

import sd_hypernet
from sd_hypernet.hosts.training import jobs as host_jobs
from sd_hypernet.hosts.ui import tab
from sd_hypernet.train import JobManager, LdmUNetAdapter, Trainer
from sd_hypernet.train import sizing
from sd_hypernet.train.divergence import DivergenceWatch
from sd_hypernet.train.options import TrainOptions


class WebuiState:
    """The fields of the webui's shared.state that its progress route reads, and what its sampler does."""

    def __init__(self):
        self.job_count, self.job_no, self.sampling_step, self.sampling_steps, self.textinfo = -1, 0, 0, 0, None

    def nextjob(self):
        self.job_no += 1
        self.sampling_step = 0

    def bar(self) -> float:
        # modules/progress.py: job_no / job_count, plus the sampling step's share of one job
        share = 0.0
        if self.job_count > 0:
            share += self.job_no / self.job_count
        if self.sampling_steps > 0 and self.job_count > 0:
            share += 1 / self.job_count * self.sampling_step / self.sampling_steps
        return min(share, 1.0)


def test_progress_names_its_phase_and_the_host_bar_never_goes_back(tmp_path):
    state = WebuiState()
    bars, reports = [], []

    def preview(prompt, step, network):
        # a txt2img render, as the webui's sampler moves the bar: its own 20 steps, then nextjob()
        state.sampling_steps = 20
        for s in range(20):
            state.sampling_step = s + 1
            bars.append(state.bar())
        state.nextjob()
        bars.append(state.bar())
        return Image.new("RGB", (8, 8))

    host = LdmUNetAdapter(ldm_host().unet, ldm_host()._encode_text, preview=preview)

    def report(progress):
        reports.append((progress.step, progress.phase, progress.status))
        host_jobs._mirror_into_state(state, progress)
        bars.append(state.bar())

    opts = options(tmp_path, steps=5, save_every=2, preview_every=2)
    Trainer(make_net(), host, latent_set(2), opts, on_progress=report).run()
    assert all(b >= a - 1e-9 for a, b in zip(bars, bars[1:])), bars  # (float rounding of the same share)
    assert bars[-1] == 1.0
    steps = [r[0] for r in reports]
    assert steps == sorted(steps)
    phases = [r[1] for r in reports]
    assert {"step", "snapshot", "preview", "finished"} <= set(phases)
    # the snapshot and the preview of step 2 are announced after step 2 is reported, before step 3
    at2 = [p for s, p, _ in reports if s == 2]
    assert at2[:3] == ["step", "snapshot", "preview"]
    assert reports[-1] == (5, "finished", "done")
    assert state.textinfo.startswith("Training hypernetwork: step 5/5, finished")


def test_the_textinfo_and_the_tab_name_the_phase():
    state = WebuiState()
    progress = types.SimpleNamespace(step=4, max_steps=5, loss=0.1, phase="preview")
    host_jobs._mirror_into_state(state, progress)
    assert state.textinfo.startswith("Training hypernetwork: step 4/5, rendering its preview")
    html = tab.job_status_html({"status": "running", "phase": "preview", "step": 4, "max_steps": 5})
    assert "rendering a preview" in html


def _rising(host, factor=1.15):
    """A UNet call whose output grows every call: what a learning rate far too high looks like in the loss."""
    original, count = host.apply_unet, [0]

    def apply(*args, **kwargs):
        count[0] += 1
        return original(*args, **kwargs) * factor ** count[0]
    host.apply_unet = apply


def test_a_rising_loss_is_reported_early_with_a_learning_rate_to_try(tmp_path):
    host = ldm_host()
    _rising(host)
    manager = JobManager()
    opts = options(tmp_path, steps=40, learn_rate="0.002")

    def work(job):
        return Trainer(make_net(), host, latent_set(2), opts, on_progress=job.update).run()

    job = manager.create("t", work)
    job.run()
    info = job.to_dict()
    assert info["status"] == "done"  # reported, not stopped
    assert "rising" in info["warning"] and "learning rate (0.002) is too high" in info["warning"]
    assert info["suggested_learn_rate"] == pytest.approx(0.0002)
    html = tab.job_status_html(info)
    assert "Diverging" in html and "Try learning rate 0.0002" in html


def test_a_learning_run_gets_no_warning(tmp_path):
    seen = []
    Trainer(make_net(), ldm_host(), latent_set(2), options(tmp_path, steps=60, learn_rate="0.001", batch_size=2),
            on_progress=lambda p: seen.append(p.warning)).run()
    assert seen and not any(seen)


def test_the_watch_needs_both_the_mean_and_the_median_to_double():
    watch = DivergenceWatch(window=4)
    for step, loss in enumerate([1, 1, 1, 1, 1, 1, 1, 9], 1):  # one spike: the median stays
        assert watch.add(step, loss, 1e-3) is None
    watch = DivergenceWatch(window=4)
    found = [watch.add(step, loss, 1e-3) for step, loss in enumerate([1, 1, 1, 1, 3, 3, 3, 3], 1)]
    assert found[-1] and watch.suggested == 1e-4


def test_a_non_finite_loss_names_the_cause_and_a_learning_rate_in_the_status(tmp_path):
    host = ldm_host()
    original, count = host.apply_unet, [0]

    def apply(*args, **kwargs):
        count[0] += 1
        out = original(*args, **kwargs)
        return out * float("inf") if count[0] > 2 else out
    host.apply_unet = apply
    reports = []
    with pytest.raises(sd_hypernet.HypernetError, match=r"Suggested learning rate: 0\.0001"):
        Trainer(make_net(), host, latent_set(2), options(tmp_path, steps=10, learn_rate="0.001"),
                on_progress=lambda p: reports.append((p.warning, p.suggested_learn_rate))).run()
    warning, suggested = reports[-1]
    assert "too high" in warning and suggested == pytest.approx(1e-4)


def _images(folder, sizes):
    folder.mkdir()
    for i, (w, h) in enumerate(sizes):
        Image.new("RGB", (w, h), (i * 40, 90, 20)).save(folder / f"{i}-thing.png")
    return str(folder)


def test_the_default_size_follows_the_dataset(tmp_path):
    small = _images(tmp_path / "small", [(64, 64), (64, 64)])
    assert sizing.suggested_size(small) == (64, 64)
    mixed = _images(tmp_path / "mixed", [(64, 64), (96, 128), (100, 60)])
    assert sizing.suggested_size(mixed) == (96, 128)
    big = _images(tmp_path / "big", [(1536, 1024)])
    w, h = sizing.suggested_size(big, family="sd1")
    assert w * h <= 512 * 512 and w % 8 == 0 and h % 8 == 0 and abs(w / h - 1.5) < 0.05
    w, h = sizing.suggested_size(big, family="sdxl")
    assert w * h <= 1024 * 1024 and w * h > 512 * 512
    bw, bh = sizing.suggested_size(big, "buckets", "sd1")
    assert bw % 64 == 0 and bh % 64 == 0 and bw > bh
    assert TrainOptions(output_dir="x").width == 0  # the default is "from the dataset"


def test_the_host_resolves_size_zero_from_the_dataset_and_shows_the_cost_first(tmp_path):
    folder = _images(tmp_path / "d", [(64, 64), (80, 64)])
    host = types.SimpleNamespace(model_family=lambda: "sd1")
    opts = TrainOptions(output_dir=str(tmp_path / "o"), data_root=folder).validate()
    host_jobs.resolve_size(host, opts)
    assert (opts.width, opts.height) == (80, 64)
    opts = TrainOptions(output_dir=str(tmp_path / "o"), data_root=folder, width=128, height=0).validate()
    host_jobs.resolve_size(host, opts)
    assert (opts.width, opts.height) == (128, 64)
    hint = tab.size_hint(host, folder, 0, 0)
    assert "2 images, largest 80x64" in hint and "training at 80x64" in hint and "GFLOP" in hint
    # the cost grows with the size: a 512x512 step is the unit
    assert sizing.step_gflops(512, 512) > 10 * sizing.step_gflops(64, 64)
    assert "1x a 512x512 step" in tab.size_hint(host, folder, 512, 512)
    assert math.isclose(sizing.step_gflops(256, 256), 468.8, rel_tol=0.01)  # the measured 32x32-latent step
    assert "does not exist" in tab.size_hint(host, str(tmp_path / "nope"), 0, 0)
