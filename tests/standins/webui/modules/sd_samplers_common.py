"""Stand-in of the webui's sd_samplers_common (v1.10.1): only how img2img passes choose their steps."""
from modules import shared


def setup_img2img_steps(p, steps=None):
    """(schedule length, t_enc): with `steps` given (the hires pass) or "img2img fix steps" on, exactly that many
    steps run over a longer schedule; otherwise denoising strength × p.steps of p.steps' schedule."""
    if getattr(shared.opts, "img2img_fix_steps", False) or steps is not None:
        requested = steps or p.steps
        steps = int(requested / min(p.denoising_strength, 0.999)) if p.denoising_strength > 0 else 0
        t_enc = requested - 1
    else:
        steps = p.steps
        t_enc = int(min(p.denoising_strength, 0.999) * steps)
    return steps, t_enc
