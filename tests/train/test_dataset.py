"""Dataset: captions from .txt or file names, templates, tag shuffle/drop-out, sizes and buckets, latent sampling."""
import random

import pytest
import torch
from PIL import Image

from sd_hypernet import HypernetError
from sd_hypernet.train.dataset import BatchOrder, TrainingSet, bucket_size, caption_for
from sd_hypernet.train.templates import fill, list_templates, load_template

WEBUI_TEMPLATE_NAMES = {"hypernetwork", "none", "style", "style_filewords", "subject", "subject_filewords"}


def fake_vae(pixels):
    """Latent = 8x8 average of the pixels (4 channels), std 0.5: enough to check shapes and values."""
    mean = torch.nn.functional.avg_pool2d(pixels, 8)
    mean = torch.cat([mean, mean[:, :1]], 1)
    return mean, torch.full_like(mean, 0.5)


def _image(path, size, color=(255, 0, 0), mode="RGB"):
    Image.new(mode, size, color if mode == "RGB" else color + (255,)).save(path)


def test_shipped_templates():
    names = set(list_templates())
    assert WEBUI_TEMPLATE_NAMES <= names
    for name in WEBUI_TEMPLATE_NAMES:
        lines = load_template(name)
        assert lines
    assert all("[filewords]" in line for line in load_template("hypernetwork"))
    assert all("[name]" in line and "[filewords]" in line for line in load_template("style_filewords"))
    assert all("[filewords]" not in line for line in load_template("style") + load_template("none"))
    with pytest.raises(HypernetError, match="not found"):
        load_template("nope")


def test_fill_shuffle_and_drop_out():
    rng = random.Random(0)
    assert fill("a [name] of [filewords]", "cat, red", "zz", rng) == "a zz of cat, red"
    shuffled = {fill("[filewords]", "a,b,c,d,e", "n", rng, shuffle_tags=True) for _ in range(50)}
    assert len(shuffled) > 5 and all(sorted(s.split(",")) == list("abcde") for s in shuffled)
    kept = [len(fill("[filewords]", ",".join("abcdefghij"), "n", rng, tag_drop_out=0.5).split(","))
            for _ in range(200)]
    assert 3.5 < sum(kept) / len(kept) < 6.5


def test_captions_from_txt_or_file_name(tmp_path):
    _image(tmp_path / "001-a red cat.png", (16, 16))
    _image(tmp_path / "two.png", (16, 16))
    (tmp_path / "two.txt").write_text("blue dog, grass\n", encoding="utf8")
    assert caption_for(str(tmp_path / "001-a red cat.png")) == "a red cat"
    assert caption_for(str(tmp_path / "two.png")) == "blue dog, grass"
    assert caption_for(str(tmp_path / "001-a red cat.png"), word_regex=r"\w+", join_string="_") == "a_red_cat"


def test_folder_fixed_size_and_templates(tmp_path):
    _image(tmp_path / "a.png", (40, 24))
    _image(tmp_path / "b.jpg", (24, 40), (0, 0, 255))
    (tmp_path / "b.txt").write_text("blue", encoding="utf8")
    (tmp_path / "notes.md").write_text("not an image", encoding="utf8")
    ds = TrainingSet.from_folder(str(tmp_path), fake_vae, width=32, height=16, template="subject_filewords",
                                 name="myhn")
    assert len(ds) == 2
    assert [e.shape for e in ds.entries] == [(4, 2, 4), (4, 2, 4)]
    texts = [ds.text_for(i) for i in range(2)]
    assert texts[0].endswith(", a") and "myhn" in texts[0]
    assert texts[1].endswith(", blue") and "myhn" in texts[1]
    assert texts == [ds.text_for(i) for i in range(2)]  # fixed text when tags are not shuffled
    # red image: latent channel 0 is +1 (pixels in [-1, 1]), blue: -1
    assert torch.allclose(ds.entries[0].mean[0], torch.ones(2, 4), atol=1e-6)
    assert torch.allclose(ds.entries[1].mean[0], -torch.ones(2, 4), atol=1e-6)


def test_latent_sampling_modes(tmp_path):
    _image(tmp_path / "a.png", (16, 16))
    gen = torch.Generator().manual_seed(0)
    once = TrainingSet.from_folder(str(tmp_path), fake_vae, width=16, height=16, latent_sampling="once")
    det = TrainingSet.from_folder(str(tmp_path), fake_vae, width=16, height=16, latent_sampling="deterministic")
    rnd = TrainingSet.from_folder(str(tmp_path), fake_vae, width=16, height=16, latent_sampling="random")
    mean = det.entries[0].mean
    assert torch.equal(det.latent_for(0, gen), mean)
    a, b = once.latent_for(0, gen), once.latent_for(0, gen)
    assert torch.equal(a, b) and not torch.equal(a, mean)
    c, d = rnd.latent_for(0, gen), rnd.latent_for(0, gen)
    assert not torch.equal(c, d)
    assert 0.2 < (c - mean).std().item() < 0.9


def test_shuffled_tags_change_per_use(tmp_path):
    _image(tmp_path / "a.png", (16, 16))
    (tmp_path / "a.txt").write_text("a,b,c,d,e,f", encoding="utf8")
    ds = TrainingSet.from_folder(str(tmp_path), fake_vae, width=16, height=16, template="none.txt",
                                 shuffle_tags=True)
    ds2 = TrainingSet.from_folder(str(tmp_path), fake_vae, width=16, height=16, template="hypernetwork",
                                  shuffle_tags=True)
    assert ds.text_for(0) == "image"  # the none template ignores the caption
    assert len({ds2.text_for(0) for _ in range(30)}) > 5


def test_buckets_keep_aspect(tmp_path):
    _image(tmp_path / "wide.png", (200, 100))
    _image(tmp_path / "tall.png", (100, 200))
    _image(tmp_path / "square.png", (150, 150))
    ds = TrainingSet.from_folder(str(tmp_path), fake_vae, width=128, height=128, size_mode="buckets",
                                 bucket_step=32)
    shapes = {e.path.rsplit("/", 1)[-1]: e.shape for e in ds.entries}
    assert shapes["square.png"] == (4, 16, 16)
    h, w = shapes["wide.png"][1:]
    assert w > h and (w * 8) * (h * 8) <= 128 * 128
    assert shapes["tall.png"][1:] == (w, h)
    # batches never mix shapes
    order = BatchOrder(ds, batch_size=2, seed=1)
    for _ in range(12):
        batch = order.next()
        assert len({ds.entries[i].shape for i in batch}) == 1


def test_bucket_size():
    assert bucket_size(512, 512, 512 * 512) == (512, 512)
    w, h = bucket_size(1920, 1080, 512 * 512)
    assert w % 64 == 0 and h % 64 == 0 and w * h <= 512 * 512 and 1.5 < w / h < 2.1


def test_original_size_crops_to_multiple_of_8(tmp_path):
    _image(tmp_path / "a.png", (37, 21))
    ds = TrainingSet.from_folder(str(tmp_path), fake_vae, size_mode="original")
    assert ds.entries[0].shape == (4, 2, 4)


def test_alpha_channel_as_loss_weight(tmp_path):
    im = Image.new("RGBA", (16, 16), (255, 0, 0, 255))
    for x in range(8):
        for y in range(16):
            im.putpixel((x, y), (255, 0, 0, 0))
    im.save(tmp_path / "a.png")
    ds = TrainingSet.from_folder(str(tmp_path), fake_vae, width=16, height=16, use_alpha_weight=True)
    w = ds.entries[0].weight
    assert w.shape == (1, 2, 2) and w.mean().item() == pytest.approx(1.0)
    assert w[0, :, 0].tolist() == [0.0, 0.0] and w[0, :, 1].tolist() == [2.0, 2.0]


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(HypernetError, match="does not exist"):
        TrainingSet.from_folder(str(tmp_path / "nope"), fake_vae)
    with pytest.raises(HypernetError, match="holds no images"):
        TrainingSet.from_folder(str(tmp_path), fake_vae)


def test_batch_order_is_seeded_and_covers_each_epoch():
    ds = TrainingSet.from_latents([torch.zeros(4, 2, 2)] * 6, ["x"] * 6)
    a, b = BatchOrder(ds, 2, seed=3), BatchOrder(ds, 2, seed=3)
    epoch = [a.next() for _ in range(3)]
    assert sorted(i for batch in epoch for i in batch) == list(range(6))
    assert epoch == [b.next() for _ in range(3)]
    assert a.next() is not None and a.epoch == 1
