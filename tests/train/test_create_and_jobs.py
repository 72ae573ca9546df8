"""Creating networks for a family, and background training jobs (id, progress, interrupt)."""
import pytest
from train_helpers import latent_set, ldm_host, make_net, options

import sd_hypernet
from sd_hypernet import HypernetError
from sd_hypernet.train import JobManager, Trainer, create_file, new_network


@pytest.mark.parametrize("family, sizes", [("sd1", [320, 640, 768, 1280]), ("sd2", [320, 640, 1024, 1280]),
                                           ("sdxl", [640, 1280, 2048])])
def test_family_presets(family, sizes):
    net = new_network("n", family=family, layer_structure="1, 0.05, 1")  # small: only the widths matter
    assert net.sizes == sizes and net.family == family
    assert net.metadata["layer_structure"] == [1.0, 0.05, 1.0]


def test_created_file_records_family_and_base_model(tmp_path):
    path = create_file(str(tmp_path), "my net", family="sdxl", activation_func="relu",
                       layer_structure="1, 0.05, 1", dropout_structure="0, 0.1, 0", is_layer_norm=True,
                       base_model_name="sd_xl_base_1.0", base_model_hash="31e35c80fc")
    assert path.endswith("my net.safetensors")
    net = sd_hypernet.load_file(path)
    assert net.metadata["sd_family"] == "sdxl"
    assert net.metadata["sd_checkpoint_name"] == "sd_xl_base_1.0"
    assert net.metadata["sd_checkpoint"] == "31e35c80fc"
    assert net.metadata["dropout_structure"] == [0.0, 0.1, 0.0] and net.metadata["use_dropout"]
    with pytest.raises(HypernetError, match="already exists"):
        create_file(str(tmp_path), "my net", family="sdxl", layer_structure="1, 0.05, 1")
    assert create_file(str(tmp_path), "my net", family="sdxl", layer_structure="1, 0.05, 1", overwrite=True) == path


@pytest.mark.parametrize("kwargs, message", [
    (dict(activation_func="glu"), "activation"),
    (dict(activation_func="threshold"), "activation"),
    (dict(activation_func="nonsense"), "activation"),
    (dict(weight_init="Zeros"), "weight initialisation"),
    (dict(dropout_structure="0, 0.1"), "dropout structure"),
    (dict(dropout_structure="0.1, 0.1, 0"), "start and end with 0"),
    (dict(dropout_structure="0, 1.5, 0"), r"\[0, 1\)"),
    (dict(layer_structure="2, 2, 1"), "first and last 1"),
    (dict(layer_structure="1, x, 1"), "layer structure"),
    (dict(family="sd3"), "family"),
])
def test_create_refuses_what_cannot_work(kwargs, message):
    kwargs.setdefault("family", "sd1")
    kwargs.setdefault("layer_structure", "1, 0.05, 1")
    with pytest.raises(HypernetError, match=message):
        new_network("n", **kwargs)


def test_a_name_is_used_as_given_or_refused_never_rewritten():
    assert new_network("my style v2", sizes=[8]).name == "my style v2"
    with pytest.raises(HypernetError, match="path separator"):
        new_network("a/b:c*d", sizes=[8])
    with pytest.raises(HypernetError, match="':'"):
        new_network("a:c", sizes=[8])


def test_job_progress_and_interrupt(tmp_path):
    jobs = JobManager()
    host = ldm_host()
    seen_steps = []

    def work(job):
        def report(p):
            job.update(p)
            seen_steps.append(p.step)
            if p.step == 3:
                job.interrupt()
        trainer = Trainer(make_net(), host, latent_set(2), options(tmp_path, steps=1000),
                          on_progress=report, interrupted=lambda: job.interrupt_requested)
        return trainer.run()

    job = jobs.start("t", work)
    with pytest.raises(HypernetError, match="a training job is running"):
        jobs.start("other", work)
    assert job.wait(60)
    info = jobs.get(job.id).to_dict()
    assert info["status"] == "interrupted" and info["step"] == 3 and info["max_steps"] == 1000
    assert info["final"].endswith("t-3.safetensors") and info["loss"] is not None
    assert info["learn_rate"] == pytest.approx(0.001)
    assert sd_hypernet.load_file(info["final"]).step == 3
    with pytest.raises(HypernetError, match="no training job"):
        jobs.get("nope")


def test_job_error_is_reported():
    jobs = JobManager()

    def work(job):
        raise HypernetError("dataset folder 'x' does not exist")

    job = jobs.start("bad", work)
    assert job.wait(10)
    assert job.to_dict()["status"] == "error" and "does not exist" in job.error
