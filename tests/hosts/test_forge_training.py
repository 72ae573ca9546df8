"""Training on the Forge v2 stand-in: the adapter takes Forge's backend UNet (inside forge_objects' UnetPatcher),
its conditioning (SDXL: context and the "vector"), its VAE and its predictor's schedule; the network reaches the
backend UNet's attention through forward pre-hooks, the UNet stays frozen and comes back unchanged."""
import math
import os

import torch
from PIL import Image

import sd_hypernet
from sd_hypernet.hook import find_sites
from sd_hypernet.train import JobManager, TrainOptions

from host_helpers import SELF_DIMS, tiny_unet


def dataset(folder, size=(64, 64)):
    folder.mkdir()
    for i, color in enumerate([(220, 40, 40), (40, 220, 40)]):
        Image.new("RGB", size, color).save(folder / f"{i:02d}-item {i}.png")
    return str(folder)


def save_network(driver, sizes, name="fnet"):
    torch.manual_seed(3)
    net = sd_hypernet.create(list(sizes), name=name, layer_structure=(1, 1, 1))
    sd_hypernet.save_file(net, os.path.join(str(driver.folder), name + ".safetensors"))
    return net


def sdxl_unet(context=64, seed=0):
    """A tiny SDXL-shaped ldm UNet: linear projections and the ADM input (`label_emb`) for the vector."""
    from ldm.modules.diffusionmodules.openaimodel import UNetModel
    torch.manual_seed(seed)
    unet = UNetModel(image_size=8, in_channels=4, out_channels=4, model_channels=32, attention_resolutions=[1],
                     num_res_blocks=1, channel_mult=(1,), num_head_channels=16, use_spatial_transformer=True,
                     transformer_depth=1, context_dim=context, use_linear_in_transformer=True, legacy=False)
    # this ldm predates sgm's "sequential" ADM input: add it the way sgm/Forge build it
    emb = unet.time_embed[0].out_features
    unet.num_classes = "sequential"
    unet.label_emb = torch.nn.Sequential(torch.nn.Sequential(
        torch.nn.Linear(context + 12, emb), torch.nn.SiLU(), torch.nn.Linear(emb, emb)))
    return unet.eval()


def test_adapter_loads_lazily_and_takes_forges_pieces(forge):
    from backend import memory_management
    from modules import sd_models

    from sd_hypernet.hosts import common
    sd_models.select_checkpoint("standin", "sd1", unet=tiny_unet())
    assert type(sd_models.model_data.sd_model).__name__ == "FakeInitialModel"  # Forge's placeholder
    adapter = common.current().training_adapter(TrainOptions(output_dir="unused"), None)
    sd_model = sd_models.model_data.sd_model
    assert sd_models.model_data.loads == 1 and adapter.sd_model is sd_model
    patcher = sd_model.forge_objects_original.unet
    assert adapter.unet is patcher.model.diffusion_model
    assert torch.equal(adapter.alphas_cumprod, patcher.model.predictor.alphas_cumprod)
    assert adapter.prediction_type == "eps"
    # Forge loaded the weights under inference_mode: the adapter made them usable by autograd
    assert not any(p.is_inference() for p in adapter.unet.parameters())

    pixels = torch.rand(2, 3, 64, 64) * 2 - 1
    mean, std = adapter.encode_images(pixels)
    vae = sd_model.forge_objects_original.vae.first_stage_model
    with torch.no_grad():
        raw_mean, raw_logvar = vae.encoder(pixels).chunk(2, dim=1)
    assert torch.allclose(mean, raw_mean * 0.18215, atol=1e-6)
    assert torch.allclose(std, torch.exp(0.5 * raw_logvar.clamp(-30, 20)) * 0.18215, atol=1e-6)
    assert not mean.is_inference() and mean.shape == (2, 4, 8, 8)

    cond = adapter.encode_text(["a cat", "a dog"], [(64, 64), (64, 64)])
    want = sd_model.get_learned_conditioning(["a cat", "a dog"])
    assert set(cond) == {"context"} and torch.equal(cond["context"], want) and not cond["context"].is_inference()

    out = adapter.apply_unet(torch.randn(2, 4, 8, 8), torch.tensor([10, 900]), cond)
    assert out.shape == (2, 4, 8, 8) and torch.isfinite(out).all()
    assert memory_management.current_loaded_models[0] is patcher  # the UNet is loaded before it runs


def test_v_prediction_model_is_trained_for_v(forge):
    from modules import sd_models

    from sd_hypernet.hosts import common
    sd_models.load_model(tiny_unet(), "sd2", prediction_type="v_prediction")
    assert common.current().training_adapter(TrainOptions(output_dir="unused"), None).prediction_type == "v"


def test_training_on_forge_reaches_the_backend_unet_and_leaves_it_frozen(forge, tmp_path):
    from sd_hypernet.hosts import common
    from sd_hypernet.hosts.training import jobs as train_jobs
    forge.load_model(tiny_unet())
    unet = forge.unet
    initial = save_network(forge, (768, *SELF_DIMS))
    frozen = {k: v.clone() for k, v in unet.state_dict().items()}
    raw, received = [], []
    handles = []
    for site in find_sites(unet):
        if site.kind == "cross":
            # the context before any pre-hook, and what Forge's to_k (a ForgeOperations.Linear) really got
            handles.append(site.module.to_k.register_forward_pre_hook(
                lambda m, args: raw.append(args[0].detach().clone()), prepend=True))
            handles.append(site.module.to_k.register_forward_hook(
                lambda m, args, out: received.append(args[0].detach().clone())))
    assert handles and type(site.module.to_k).__name__ == "Linear" and not isinstance(site.module.to_k,
                                                                                       torch.nn.Linear)
    out = tmp_path / "out"
    options = {"data_root": dataset(tmp_path / "data"), "output_dir": str(out), "steps": 4, "save_every": 0,
               "preview_every": 0, "width": 64, "height": 64, "learn_rate": "0.001", "seed": 4}
    try:
        job = train_jobs.start_training(common.current(), "fnet", options, threaded=False, manager=JobManager())
    finally:
        for h in handles:
            h.remove()
    info = job.to_dict()
    assert job.status == "done", job.error
    assert info["step"] == 4 and math.isfinite(info["loss"])
    assert raw and len(raw) == len(received)
    # the first UNet call ran with the untrained weights: to_k got exactly the network's k of the context
    k, _ = initial.transform(raw[0])
    assert raw[0].shape[-1] == 768 and not torch.equal(received[0], raw[0])
    assert torch.allclose(received[0], k, atol=1e-5, rtol=1e-4)
    assert all(torch.equal(v, frozen[k]) for k, v in unet.state_dict().items())
    assert all(p.grad is None for p in unet.parameters())
    trained = sd_hypernet.load_file(info["final"])
    assert trained.step == 4 and trained.metadata.get("sd_family") == "sd1"
    assert any(not torch.equal(a, b) for a, b in zip(trained.parameters(), initial.parameters()))

    # the hooks went with the job: the next UNet call sees the plain context
    raw.clear()
    seen = []
    site = next(s for s in find_sites(unet) if s.kind == "cross")
    h = site.module.to_k.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    ctx = torch.randn(1, 5, 768)
    with torch.no_grad():
        unet(torch.randn(1, 4, 8, 8), torch.tensor([5]), context=ctx, transformer_options={})
    h.remove()
    assert seen and torch.equal(seen[0], ctx)


def test_sdxl_conditioning_carries_the_vector_and_trains(forge, tmp_path):
    from modules import sd_models

    from sd_hypernet.hosts import common
    from sd_hypernet.hosts.training import jobs as train_jobs
    sd_models.load_model(sdxl_unet(), "sdxl", name="xl")
    adapter = common.current().training_adapter(TrainOptions(output_dir="unused"), None)
    cond = adapter.encode_text(["a cat", "a cat", "a dog"], [(64, 64), (128, 64), (64, 64)])
    assert cond["context"].shape == (3, 77, 64) and cond["y"].shape == (3, 76)
    # one prompt at two sizes: same context and pooled part, different size part of the vector
    assert torch.equal(cond["context"][0], cond["context"][1]) and torch.equal(cond["y"][0, :64], cond["y"][1, :64])
    assert not torch.equal(cond["y"][0, 64:], cond["y"][1, 64:])
    assert torch.equal(cond["y"][0, 64:], cond["y"][2, 64:])

    save_network(forge, (64, 32), name="xlnet")
    options = {"data_root": dataset(tmp_path / "data"), "output_dir": str(tmp_path / "out"), "steps": 2,
               "save_every": 0, "preview_every": 0, "width": 64, "height": 64, "learn_rate": "0.001"}
    job = train_jobs.start_training(common.current(), "xlnet", options, threaded=False, manager=JobManager())
    assert job.status == "done", job.error
    assert job.to_dict()["step"] == 2 and math.isfinite(job.to_dict()["loss"])
    assert sd_hypernet.load_file(job.to_dict()["final"]).metadata.get("sd_family") == "sdxl"
