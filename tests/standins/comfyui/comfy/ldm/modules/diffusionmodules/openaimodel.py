"""Stand-in for `comfy/ldm/modules/diffusionmodules/openaimodel.py`: ldm's UNetModel (same modules and names:
`input_blocks.4.1.transformer_blocks.0.attn2.to_k`) run as ComfyUI runs it: `transformer_options["block"]` is
("input", i) / ("middle", 0) / ("output", i) while that block runs, and every SpatialTransformer goes through the
patch-calling transformer block."""
import torch
from ldm.modules.attention import SpatialTransformer
from ldm.modules.diffusionmodules.openaimodel import TimestepBlock
from ldm.modules.diffusionmodules.openaimodel import UNetModel as LdmUNetModel
from ldm.modules.diffusionmodules.util import timestep_embedding

from comfy.ldm.modules.attention import spatial_transformer_forward


def forward_timestep_embed(seq, x, emb, context, transformer_options):
    for layer in seq:
        if isinstance(layer, TimestepBlock):
            x = layer(x, emb)
        elif isinstance(layer, SpatialTransformer):
            x = spatial_transformer_forward(layer, x, context, transformer_options)
            transformer_options["transformer_index"] = transformer_options.get("transformer_index", 0) + 1
        else:
            x = layer(x)
    return x


class UNetModel(LdmUNetModel):
    def forward(self, x, timesteps=None, context=None, y=None, control=None, transformer_options={}, **kwargs):
        transformer_options["original_shape"] = list(x.shape)
        transformer_options["transformer_index"] = 0
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels, repeat_only=False).to(x.dtype))
        if self.num_classes is not None:
            emb = emb + self.label_emb(y)
        hs = []
        h = x
        for i, module in enumerate(self.input_blocks):
            transformer_options["block"] = ("input", i)
            h = forward_timestep_embed(module, h, emb, context, transformer_options)
            hs.append(h)
        transformer_options["block"] = ("middle", 0)
        h = forward_timestep_embed(self.middle_block, h, emb, context, transformer_options)
        for i, module in enumerate(self.output_blocks):
            transformer_options["block"] = ("output", i)
            h = torch.cat([h, hs.pop()], dim=1)
            h = forward_timestep_embed(module, h, emb, context, transformer_options)
        transformer_options["block"] = ("last", 0)
        return self.out(h).type(x.dtype)


def adopt(unet: LdmUNetModel) -> UNetModel:
    """Run an existing ldm UNetModel the ComfyUI way (same modules, same weights), in place."""
    unet.__class__ = UNetModel
    return unet
