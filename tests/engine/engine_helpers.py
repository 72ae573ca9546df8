"""Helpers shared by the engine tests (a uniquely named module: every test folder has its own conftest)."""
import torch


def build_ldm_unet(config, weights=None, seed=0):
    from ldm.modules.diffusionmodules.openaimodel import UNetModel
    torch.manual_seed(seed)
    unet = UNetModel(**config)
    if weights is not None:
        unet.load_state_dict(weights, strict=True)
    else:
        # ldm zero-initialises output projections; random values make every path matter
        with torch.no_grad():
            for p in unet.parameters():
                p.normal_(0.0, 0.2)
    return unet.eval()


def run_ldm(unet, vectors):
    with torch.no_grad():
        return unet(vectors["x"], timesteps=vectors["t"], context=vectors["context"])


class InputRecorder:
    """Records what every to_k/to_v receives: `before` (the original input) and `after` (after our hooks).

    Create it after attach(): its `after` hook must run after the patcher's."""

    def __init__(self, unet):
        self.before, self.after, self._handles = {}, {}, []
        for name, module in unet.named_modules():
            for which in ("to_k", "to_v"):
                layer = getattr(module, which, None)
                if isinstance(layer, torch.nn.Linear) and name.rsplit(".", 1)[-1] in ("attn1", "attn2"):
                    key = f"{name}.{which}"
                    self._handles.append(layer.register_forward_pre_hook(self._store(self.before, key), prepend=True))
                    self._handles.append(layer.register_forward_pre_hook(self._store(self.after, key)))

    @staticmethod
    def _store(target, key):
        def hook(module, args):
            target[key] = args[0].detach().clone()
        return hook

    def transformed(self) -> set:
        """Layers whose input was changed by a hook."""
        return {k for k in self.before if not torch.equal(self.before[k], self.after[k])}

    def remove(self):
        for h in self._handles:
            h.remove()
