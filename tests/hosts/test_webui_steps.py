"""start/stop on the webui with samplers that call the model twice per step (Heun: the second call at the next
step's sigma; DPM2: between the two sigmas): both calls of a step fall in the same window, in txt2img and in
the hires pass, from the schedule and, without one, from the call counter."""
import pytest

from sd_hypernet import ChainEntry

from host_helpers import Received, active_calls, per_call, record_steps


def current():
    from sd_hypernet.hosts import common
    return common.current()


def two_calls_per_step(steps):
    """The step of each model call: two per step, one for the last (its next sigma is 0)."""
    return [i for i in range(steps) for _ in range(2 if i < steps - 1 else 1)]


@pytest.mark.parametrize("sampler", ["Heun", "DPM2"])
def test_window_is_exact_with_two_calls_per_step(webui, sampler):
    webui.network("alpha")
    webui.load_model()
    seen = record_steps(current)
    p = webui.make_processing("<hypernet:alpha:1:start=1:stop=3>", steps=4, sampler_name=sampler)
    got = webui.run_generation(p)
    expected_steps = two_calls_per_step(4)
    assert seen == [(s, 4) for s in expected_steps]
    assert active_calls(got, webui.unet) == [1 <= s < 3 for s in expected_steps]
    alpha = webui.load("alpha")
    for call, step in zip(per_call(got, webui.unet), expected_steps):
        if 1 <= step < 3:
            assert call.matches([ChainEntry(alpha, 1.0)])


def test_hires_pass_with_heun_has_its_own_exact_window(webui):
    webui.network("alpha")
    webui.network("beta", seed=2)
    webui.load_model()
    seen = record_steps(current)
    p = webui.make_processing("<hypernet:alpha:1:start=2>", steps=3, enable_hr=True, hr_sampler_name="Heun",
                              hr_prompt="<hypernet:beta:1:start=1:stop=2>", hr_second_pass_steps=6,
                              denoising_strength=0.5)
    got = webui.run_generation(p)
    first = Received([r for r in got if not r.hr])
    hires = Received([r for r in got if r.hr])
    hr_steps = 6  # hires runs exactly its own step count (sd_samplers_common.setup_img2img_steps)
    hr_expected = two_calls_per_step(hr_steps)
    assert seen == [(s, 3) for s in range(3)] + [(s, hr_steps) for s in hr_expected]
    assert active_calls(first, webui.unet) == [False, False, True]
    assert active_calls(hires, webui.unet) == [s == 1 for s in hr_expected]
    beta = webui.load("beta")
    assert all(call.matches([ChainEntry(beta, 1.0)])
               for call, s in zip(per_call(hires, webui.unet), hr_expected) if s == 1)


def test_without_a_schedule_the_call_counter_is_exact_too(webui, monkeypatch):
    from sd_hypernet.hosts.adapters.sampling_steps import SigmaSteps
    monkeypatch.setattr(SigmaSteps, "_compute", lambda self: None)
    webui.network("alpha")
    webui.load_model()
    seen = record_steps(current)
    got = webui.run_generation(webui.make_processing("<hypernet:alpha:1:stop=2>", steps=3, sampler_name="Heun"))
    expected_steps = two_calls_per_step(3)
    assert seen == [(s, 3) for s in expected_steps]
    assert active_calls(got, webui.unet) == [s < 2 for s in expected_steps]


def test_schedule_is_read_only_for_chains_with_a_step_range(webui, monkeypatch):
    from modules import sd_samplers
    calls = []
    original = sd_samplers.KDiffusionSampler.get_sigmas

    def counted(self, p, steps):
        calls.append(steps)
        return original(self, p, steps)
    monkeypatch.setattr(sd_samplers.KDiffusionSampler, "get_sigmas", counted)
    webui.network("alpha")
    webui.load_model()
    webui.run_generation(webui.make_processing("<hypernet:alpha:1>", steps=3, sampler_name="Heun"))
    assert len(calls) == 1  # the sampler's own
    calls.clear()
    webui.run_generation(webui.make_processing("<hypernet:alpha:1:start=1>", steps=3, sampler_name="Heun"))
    assert len(calls) == 2  # the sampler's and ours, once per pass (not per call)


def test_one_call_samplers_keep_the_exact_step(webui):
    webui.network("alpha")
    webui.load_model()
    seen = record_steps(current)
    got = webui.run_generation(webui.make_processing("<hypernet:alpha:1:start=0.5>", steps=4))
    assert seen == [(s, 4) for s in range(4)]
    assert active_calls(got, webui.unet) == [False, False, True, True]
