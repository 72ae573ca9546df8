"""hook.ChainApplier's per-context cache: identity + version, weakly held, exact, bounded."""
import gc
import weakref

import pytest
import torch

import sd_hypernet
from sd_hypernet import ChainApplier, ChainEntry


@pytest.fixture
def chain():
    torch.manual_seed(0)
    a = sd_hypernet.create([16, 24], [1, 2, 1], "tanh", weight_init="XavierNormal", name="a")
    b = sd_hypernet.create([24], [1, 0.5, 1], "relu", weight_init="XavierNormal", name="b")
    return [(a, 0.8), (b, -0.6)]


def test_hit_returns_identical_objects(chain):
    applier = ChainApplier(chain)
    ctx = torch.randn(2, 5, 24)
    first = applier.transform(ctx, "cross", "IN01")
    second = applier.transform(ctx, "cross", "OUT05")
    assert second[0] is first[0] and second[1] is first[1]
    assert (applier.hits, applier.misses) == (1, 1)


def test_results_equal_apply_chain(chain):
    applier = ChainApplier(chain)
    for width in (16, 24):
        ctx = torch.randn(3, 4, width)
        expected = sd_hypernet.apply_chain(chain, ctx)
        for _ in range(3):
            k, v = applier.transform(ctx, "cross")
            assert torch.equal(k, expected[0]) and torch.equal(v, expected[1])


def test_in_place_change_misses(chain):
    applier = ChainApplier(chain)
    ctx = torch.randn(2, 5, 24)
    before = applier.transform(ctx)
    ctx.mul_(2.0)
    after = applier.transform(ctx)
    assert applier.misses == 2 and applier.hits == 0
    assert after[0] is not before[0]
    assert torch.equal(after[0], sd_hypernet.apply_chain(chain, ctx)[0])


def test_new_tensor_same_shape_misses(chain):
    applier = ChainApplier(chain)
    for i in range(20):
        ctx = torch.randn(2, 5, 24)
        k, v = applier.transform(ctx)
        assert torch.equal(k, sd_hypernet.apply_chain(chain, ctx)[0])
        del ctx, k, v  # the next context may well reuse the same address and id
    assert applier.misses == 20 and applier.hits == 0


def _context_dies(applier, grad: bool) -> tuple[bool, bool]:
    with torch.set_grad_enabled(grad):
        ctx = torch.randn(2, 5, 24)
        ref = weakref.ref(ctx)
        k, v = applier.transform(ctx)
        out_ref = weakref.ref(k)
        del ctx, k, v
        gc.collect()
    return ref() is None, out_ref() is None


def test_cache_does_not_keep_context_alive_under_no_grad(chain):
    ctx_dead, result_dead = _context_dies(ChainApplier(chain), grad=False)
    assert ctx_dead, "the cache keeps the context alive"
    assert result_dead, "the cache keeps results for a dead context"


def test_cache_does_not_keep_context_alive(chain):
    # outside no_grad (a diffusers user, a training loop): needs frozen network parameters, as webui's eval_mode
    ctx_dead, result_dead = _context_dies(ChainApplier(chain), grad=True)
    assert ctx_dead, "the cache keeps the context alive"
    assert result_dead


def test_leaf_context_with_grad_is_released_by_the_next_context(chain):
    # a leaf that requires grad is referenced by the result's graph: at most one such context is held
    applier = ChainApplier(chain)
    ctx = torch.randn(2, 5, 24, requires_grad=True)
    ref = weakref.ref(ctx)
    applier.transform(ctx)
    del ctx
    applier.transform(torch.randn(2, 5, 24))
    gc.collect()
    assert ref() is None


def test_no_growth(chain):
    applier = ChainApplier(chain)
    keep = torch.randn(2, 5, 24)
    for i in range(200):
        ctx = torch.randn(2, 5, 16 if i % 2 else 24)
        applier.transform(ctx, "self" if i % 3 else "cross")
        applier.transform(keep)
    assert applier.cached_results() <= 3  # one live context per kind used: self, cross, unspecified
    assert applier.misses <= 400


def test_different_multipliers_are_separate_entries(chain):
    net = chain[0][0]
    applier = ChainApplier([ChainEntry(net, 1.0, self_multiplier=0.5, cross_multiplier=-1.0)])
    ctx = torch.randn(2, 5, 24)
    k_self, _ = applier.transform(ctx, "self")
    k_cross, _ = applier.transform(ctx, "cross")
    assert torch.equal(k_self, net.transform(ctx, 0.5)[0])
    assert torch.equal(k_cross, net.transform(ctx, -1.0)[0])
    assert applier.misses == 2
    assert applier.transform(ctx, "self")[0] is k_self


def test_step_change_does_not_reuse_another_networks_result():
    # diffusers pipelines pass the same prompt-embeds tensor at every step
    torch.manual_seed(0)
    a = sd_hypernet.create([24], weight_init="XavierNormal", name="a")
    b = sd_hypernet.create([24], weight_init="XavierNormal", name="b")
    applier = ChainApplier([ChainEntry(a, 1.0, stop=5), ChainEntry(b, 1.0, start=5)])
    ctx = torch.randn(2, 5, 24)
    applier.set_step(4, 10)
    early = applier.transform(ctx, "cross")
    assert torch.equal(early[0], a.transform(ctx)[0])
    applier.set_step(5, 10)
    late = applier.transform(ctx, "cross")
    assert torch.equal(late[0], b.transform(ctx)[0]), "step change returned the previous network's result"


def test_apply_to_self_off():
    net = sd_hypernet.create([24], weight_init="XavierNormal")
    applier = ChainApplier([(net, 1.0)], apply_to_self=False)
    ctx = torch.randn(2, 5, 24)
    k, v = applier.transform(ctx, "self")
    assert k is ctx and v is ctx
    assert not torch.equal(applier.transform(ctx, "cross")[0], ctx)


def test_autocast_does_not_change_the_computation(chain):
    applier = ChainApplier(chain)
    ctx = torch.randn(2, 5, 24)
    expected = sd_hypernet.apply_chain(chain, ctx)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        k, v = applier.transform(ctx)
    assert k.dtype == torch.float32
    assert torch.equal(k, expected[0]) and torch.equal(v, expected[1])


def test_training_mode_is_never_cached():
    net = sd_hypernet.create([24], [1, 2, 1], "relu", dropout_structure=[0, 0.5, 0], weight_init="XavierNormal")
    net.train()
    applier = ChainApplier([(net, 1.0)])
    ctx = torch.randn(2, 5, 24)
    a = applier.transform(ctx)
    b = applier.transform(ctx)
    assert a[0] is not b[0]
    assert not torch.equal(a[0], b[0])  # separate dropout draws
    net.eval()


def test_inference_tensors_are_cached_within_a_model_call_only(chain):
    # Forge and reForge sample under inference_mode: no version counter, so a result lives one model call
    applier = ChainApplier(chain)
    with torch.inference_mode():
        ctx = torch.randn(2, 5, 24)
        first = applier.transform(ctx, "cross")
        assert applier.transform(ctx, "cross")[0] is first[0]
        ctx.mul_(2.0)  # allowed on an inference tensor, invisible to a version check
        applier.new_call()
        after = applier.transform(ctx, "cross")
    assert after[0] is not first[0]
    assert torch.equal(after[0], sd_hypernet.apply_chain(chain, ctx)[0])
    assert (applier.hits, applier.misses) == (1, 2)


def test_normal_and_inference_contexts_side_by_side(chain):
    applier = ChainApplier(chain)
    normal = torch.randn(2, 5, 24)
    with torch.inference_mode():
        inference = normal.clone()
        k_inf, _ = applier.transform(inference, "cross")
    k_normal, _ = applier.transform(normal, "cross")
    assert k_normal is not k_inf and torch.equal(k_normal, k_inf)
