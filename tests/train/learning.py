"""The learning check: does a fresh network, trained with given settings, become a known one?

A "teacher" hypernetwork (the default structure, weights drawn larger than a fresh network's, as a trained
network's are) applied to a frozen UNet defines the target: the training data are the teacher's own noise
predictions (the adapter's `target_for`), on random latents at random timesteps, as a real run draws them. A
fresh network is trained on them; the distance to the teacher is the mean squared difference between the UNet's
output with the student and with the teacher, on fixed draws (latents, timesteps, noise) the training never
sees. `closed` is the share (0..1) of the starting distance closed at the end.

Used by tests/train/test_learning.py (small UNet) and benchmarks/train_learning.py (small or SD1.5-shaped).
"""
from __future__ import annotations

import copy
import os
import tempfile
import zlib

import torch
from step_reference import randomise_zero_layers

import sd_hypernet
from sd_hypernet.hook import find_sites
from sd_hypernet.train import LdmUNetAdapter, Trainer, TrainingSet, TrainOptions, new_network
from sd_hypernet.train.create import sizes_for
from sd_hypernet.train.objective import NoiseSchedule

SMALL_UNET = dict(image_size=8, in_channels=4, out_channels=4, model_channels=32, attention_resolutions=[1],
                  num_res_blocks=1, channel_mult=[1], num_heads=2, use_spatial_transformer=True,
                  transformer_depth=1, context_dim=768, legacy=False)
SD15_UNET = dict(image_size=32, in_channels=4, out_channels=4, model_channels=320, attention_resolutions=[4, 2, 1],
                 num_res_blocks=2, channel_mult=[1, 2, 4, 4], num_heads=8, use_spatial_transformer=True,
                 transformer_depth=1, context_dim=768, legacy=False)
TEACHER_STD = 0.05    # the teacher's weights: N(0, 0.05) (a fresh network's are N(0, 0.01), biases 0)
FOLKLORE = dict(learn_rate="5e-6", optimizer="AdamW", lr_schedule="webui", warmup_steps=0)


def encoder(tokens: int, width: int = 768):
    def encode_text(texts, sizes=None):
        out = []
        for text in texts:
            g = torch.Generator().manual_seed(zlib.crc32(text.encode()))
            out.append(torch.randn(1, tokens, width, generator=g))
        return {"context": torch.cat(out)}
    return encode_text


def teacher_network(sizes=None, seed: int = 11):
    net = new_network("teacher", family="sd1", sizes=sizes)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * TEACHER_STD)
    return net.eval()


class TeacherAdapter(LdmUNetAdapter):
    """A bare ldm UNet whose training target is the same UNet's output with the teacher network on a copy."""

    def __init__(self, unet, teacher, encode_text):
        super().__init__(unet, encode_text)
        self.teacher_unet = copy.deepcopy(unet)
        self.teacher_patcher = sd_hypernet.attach(self.teacher_unet)
        self.teacher_patcher.set_chain([sd_hypernet.ChainEntry(teacher, 1.0, force=True)])

    def teacher_out(self, x_t, t, cond):
        dtype = next(self.teacher_unet.parameters()).dtype
        with torch.no_grad():
            return self.teacher_unet(x_t.to(dtype), timesteps=t, context=cond["context"].to(dtype))

    def target_for(self, x_t, t, cond):
        return self.teacher_out(x_t, t, cond)


class Check:
    """One UNet, one teacher, one dataset and one held-out evaluation set; `run(settings)` trains a fresh
    network with those settings (TrainOptions fields; defaults for the rest) and measures how close it got."""

    def __init__(self, unet_config=SMALL_UNET, latent: int = 8, images: int = 4, tokens: int = 8,
                 eval_draws: int = 4, seed: int = 0):
        from ldm.modules.diffusionmodules.openaimodel import UNetModel
        torch.manual_seed(seed)
        unet = randomise_zero_layers(UNetModel(**unet_config)).eval()
        for p in unet.parameters():
            p.requires_grad_(False)
        # only the widths this UNet has (the small one has only its 768 cross-attention): a smaller file to save
        widths = {int(s.module.to_k.weight.shape[1]) for s in find_sites(unet)}
        self.sizes = sorted(w for w in sizes_for("sd1") if w in widths)
        self.host = TeacherAdapter(unet, teacher_network(self.sizes), encoder(tokens))
        g = torch.Generator().manual_seed(seed + 1)
        self.latents = [torch.randn(4, latent, latent, generator=g) for _ in range(images)]
        self.captions = [f"picture {i}, a thing" for i in range(images)]
        schedule = NoiseSchedule(self.host.alphas_cumprod)
        g = torch.Generator().manual_seed(seed + 2)
        x0 = torch.stack(self.latents).repeat(eval_draws, 1, 1, 1)
        noise = torch.randn(x0.shape, generator=g)
        self.eval_t = torch.randint(0, schedule.num_timesteps, (x0.shape[0],), generator=g)
        self.eval_x = schedule.q_sample(x0, self.eval_t, noise)
        self.eval_cond = self.host.encode_text(self.captions * eval_draws, None)
        self.teacher_eval = self._in_chunks(self.host.teacher_out)

    def _in_chunks(self, fn, size: int = 4):
        outs = []
        for i in range(0, self.eval_x.shape[0], size):
            cond = {"context": self.eval_cond["context"][i:i + size]}
            outs.append(fn(self.eval_x[i:i + size], self.eval_t[i:i + size], cond))
        return torch.cat(outs)

    def distance(self, network) -> float:
        patcher = sd_hypernet.attach(self.host.unet)
        try:
            patcher.set_chain([sd_hypernet.ChainEntry(network.eval(), 1.0, force=True)])
            with torch.no_grad():
                out = self._in_chunks(self.host.apply_unet)
        finally:
            patcher.remove()
        return float(((out.float() - self.teacher_eval.float()) ** 2).mean())

    def dataset(self, folder: str) -> TrainingSet:
        template = os.path.join(folder, "captions.txt")  # the prompt is the caption, as evaluated
        with open(template, "w", encoding="utf8") as f:
            f.write("[filewords]\n")
        data = TrainingSet.from_latents(self.latents, self.captions, template=template, name="student")
        assert [data.text_for(i) for i in range(len(self.captions))] == self.captions
        return data

    def run(self, steps: int, settings: dict | None = None, seed: int = 0, network=None) -> dict:
        torch.manual_seed(seed)
        net = network if network is not None else new_network("student", family="sd1", sizes=self.sizes)
        start = self.distance(net)
        with tempfile.TemporaryDirectory() as out:
            fields = dict(output_dir=out, steps=steps, save_every=0, preview_every=0, plot_every=0, csv_every=0,
                          seed=seed)
            fields.update(settings or {})
            trainer = Trainer(net, self.host, self.dataset(out), TrainOptions(**fields))
            result = trainer.run()
        end = self.distance(net)
        return {"distance_start": start, "distance_end": end, "closed": 1.0 - end / start,
                "loss_first": result.losses[0], "loss_last": result.losses[-1], "status": result.progress.status,
                "plan": trainer.plan.note, "warning": result.progress.warning, "losses": result.losses}
