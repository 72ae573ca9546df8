"""Generation paths besides plain txt2img on the webui stand-in: img2img, batches (batch_size and n_iter), and
the API under --nowebui (webui.py api_only). Each drives a whole generation and checks what to_k/to_v got."""
import json

import pytest

from sd_hypernet import ChainEntry, short_hash

from host_helpers import Received, WebuiApiDriver, active_calls, per_call, record_steps, use_host


def current():
    from sd_hypernet.hosts import common
    return common.current()


def img2img(prompt, **kw):
    from modules import processing
    kw.setdefault("width", 64)
    kw.setdefault("height", 64)
    kw.setdefault("seed", 1)
    return processing.StableDiffusionProcessingImg2Img(prompt=prompt, **kw)


def test_img2img_applies_its_tags_over_its_own_steps(webui):
    webui.network("alpha")
    webui.load_model()
    seen = record_steps(current)
    p = img2img("cat <hypernet:alpha:0.8:start=1:stop=0.5>", steps=10, denoising_strength=0.6)
    got = webui.run_generation(p)
    steps = int(0.6 * 10) + 1  # the webui's img2img runs int(strength * steps) + 1 steps
    assert seen == [(s, steps) for s in range(steps)]
    # stop=0.5 is half of the steps it actually runs (4 of 7), not of p.steps
    assert active_calls(got, webui.unet) == [1 <= s < 4 for s in range(steps)]
    alpha = webui.load("alpha")
    assert all(call.matches([ChainEntry(alpha, 0.8)]) for call in per_call(got, webui.unet)[1:4])
    assert p.extra_generation_params["Hypernet hashes"] == f"alpha: {short_hash(webui.folder / 'alpha.safetensors')}"


def test_img2img_without_tags_leaves_the_unet_alone(webui):
    webui.network("alpha")
    webui.load_model()
    webui.run_generation(webui.make_processing("<hypernet:alpha:1>"))
    got = webui.run_generation(img2img("cat", steps=4, denoising_strength=0.5))
    assert got and not got.changed()


def test_batches_activate_the_first_prompt_of_each_batch(webui):
    from modules import extra_networks
    webui.network("alpha")
    webui.network("beta", seed=2)
    webui.load_model()
    handler = extra_networks.extra_network_registry["hypernet"]
    activations = []
    original = handler.activate

    def spy(p, params_list):
        activations.append([list(x.items) for x in params_list])
        return original(p, params_list)
    handler.activate = spy
    prompts = ["a <hypernet:alpha:1>", "b <hypernet:beta:1>",  # batch 0: alpha, for both images
               "c <hypernet:beta:0.5>", "d"]                   # batch 1: beta at 0.5, for both
    p = webui.make_processing(prompts, batch_size=2, n_iter=2, steps=2)
    got = webui.run_generation(p)
    assert activations == [[["alpha", "1"]], [["beta", "0.5"]]]
    batches = [Received(x) for x in (got[:len(got) // 2], got[len(got) // 2:])]
    alpha, beta = webui.load("alpha"), webui.load("beta")
    assert batches[0].matches([ChainEntry(alpha, 1.0)]) and batches[0].changed()
    assert batches[1].matches([ChainEntry(beta, 0.5)]) and batches[1].changed()
    assert all(r.received.shape[0] == 4 for r in got if r.kind == "cross")  # 2 images x (cond, uncond)
    infotexts = webui.processed.infotexts
    assert len(infotexts) == 4
    assert [t.splitlines()[0] for t in infotexts] == prompts  # tags stay in each image's own prompt
    params = [t.split("\n", 1)[1] for t in infotexts]
    # written per batch, before the next one activates: batch 0's images name only alpha
    assert all('Hypernet hashes: "alpha: ' in t and "beta" not in t for t in params[:2]), params
    assert all("beta: " in t for t in params[2:]), params


def test_batch_without_tags_after_one_with_tags_is_cleared(webui):
    webui.network("alpha")
    webui.load_model()
    got = webui.run_generation(webui.make_processing(["<hypernet:alpha:1> a", "b"], batch_size=1, n_iter=2,
                                                     steps=1))
    first, second = Received(got[:len(got) // 2]), Received(got[len(got) // 2:])
    assert first.changed() and not second.changed()


@pytest.fixture
def api_webui(tmp_path):
    with use_host("webui"):
        driver = WebuiApiDriver(tmp_path)
        driver.startup()
        try:
            yield driver
        finally:
            driver.shutdown()


def test_nowebui_api_txt2img_applies_tags(api_webui):
    from modules import errors, extra_networks, script_callbacks, shared
    api_webui.network("alpha")
    built = []
    script_callbacks.on_ui_tabs(lambda: built.append(extra_networks.extra_network_registry.get("hypernet")) or [],
                                name="test_probe")
    client = api_webui.start_api()
    # Api.__init__ built the UI (no tab had initialised the runners) before before_ui registered our handler
    assert built and type(built[0]).__name__ == "ExtraNetworkHypernet"
    assert errors.recorded == []  # our tab built fine that early too
    assert type(extra_networks.extra_network_registry["hypernet"]).__name__ == "HypernetHandler"
    assert {x["name"] for x in client.get("/sdapi/v1/hypernet/networks").json()} == {"alpha"}

    got = api_webui.txt2img(prompt="cat <hypernet:alpha:0.6:stop=1>", steps=2, width=64, height=64, seed=3)
    assert api_webui.response.status_code == 200
    assert api_webui.p.is_api
    alpha = api_webui.load("alpha")
    assert active_calls(got, api_webui.unet) == [True, False]
    assert per_call(got, api_webui.unet)[0].matches([ChainEntry(alpha, 0.6)])
    info = json.loads(api_webui.response.json()["info"])
    assert info["extra_generation_params"]["Hypernet hashes"].startswith("alpha: ")
    assert shared.loaded_hypernetworks == []

    got = api_webui.txt2img(prompt="cat", steps=1, width=64, height=64)
    assert got and not got.changed()
    assert errors.recorded == []
