"""Stand-in for Forge's `backend/operations.py`: its Linear is a plain nn.Module, not a torch.nn.Linear subclass
(Forge swaps layer classes to cast weights on the fly), so code that looks for `isinstance(m, nn.Linear)` misses
Forge's attention projections."""
import torch
import torch.nn.functional as F


class ForgeOperations:
    class Linear(torch.nn.Module):
        def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
            super().__init__()
            self.in_features = in_features
            self.out_features = out_features
            self.weight = torch.nn.Parameter(torch.empty(out_features, in_features, device=device, dtype=dtype))
            self.bias = torch.nn.Parameter(torch.empty(out_features, device=device, dtype=dtype)) if bias else None

        @classmethod
        def from_linear(cls, linear: torch.nn.Linear):
            new = cls(linear.in_features, linear.out_features, bias=linear.bias is not None,
                      dtype=linear.weight.dtype, device=linear.weight.device)
            with torch.no_grad():
                new.weight.copy_(linear.weight)
                if new.bias is not None:
                    new.bias.copy_(linear.bias)
            return new

        def forward(self, x):
            weight = self.weight.to(x.dtype)
            bias = None if self.bias is None else self.bias.to(x.dtype)
            return F.linear(x, weight, bias)
