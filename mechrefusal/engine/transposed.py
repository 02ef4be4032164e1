"""Keep TransformerLens's transposed weight copies instead of re-making them on every forward.

TL 3.x's gated MLP and unembedding call `F.linear(x, W.T.contiguous())` so that their memory
layout (and bfloat16 accumulation order) matches HF's `nn.Linear`. That copies every MLP matrix
and the whole unembedding on each forward: for one decoded token on CPU the copies cost more
than the products (~68% of a SmolLM2-135M decode step). `reuse_transposed_weights(model)` gives
each such module a cached copy, refreshed when the weight changes (storage or in-place version),
so outputs are bit-identical to TL's. Where a weight needs a gradient the copy is made as before
(frozen weights may use the cached copy under autograd: it is an ordinary tensor).

Attention re-lays W_Q, W_K, W_V (`(head d_head) d_model`) and W_O (`d_model (head d_head)`) on
every forward too. `attention_weights_in_product_layout(model)` stores each of them in the
memory order of that product, as a strided view with TL's shape: the rearrangement is then a
view, and the products read the same numbers in the same layout as before (bit-identical).
"""

import types

import torch
import torch.nn.functional as F
from transformer_lens.components import AbstractAttention, GatedMLP, Unembed

from mechrefusal._typing import Float, Tensor


class _TransposedCopy:
    """`weight.T.contiguous()`, remade only when `weight` has changed since the last call."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._value: Tensor | None = None

    def __call__(self, weight: Tensor) -> Tensor:
        if torch.is_grad_enabled() and weight.requires_grad:
            return weight.T.contiguous()
        key = (weight.data_ptr(), weight._version, weight.dtype, weight.device, weight.shape)
        if key != self._key or self._value is None:
            # An ordinary tensor even when made under inference mode, so that a later forward
            # with autograd on (e.g. training a steering vector through frozen blocks) can use it.
            with torch.inference_mode(False), torch.no_grad():
                self._value = weight.detach().T.contiguous()
            self._key = key
        return self._value


def _gated_mlp_forward(self, x: Float[Tensor, "batch pos d_model"]):
    """TL's `GatedMLP.forward` (SiLU-gated branch) with cached transposes."""
    if self.W_gate.device != x.device:
        x = x.to(self.W_gate.device)
    copies = self._transposed
    pre_act = self.hook_pre(F.linear(x, copies["gate"](self.W_gate)))
    pre_linear = self.hook_pre_linear(F.linear(x, copies["in"](self.W_in)))
    post_act = self.hook_post(self.act_fn(pre_act) * pre_linear + self.b_in)
    return F.linear(post_act, copies["out"](self.W_out), self.b_out)


def _unembed_forward(self, residual: Float[Tensor, "batch pos d_model"]):
    """TL's `Unembed.forward` with a cached transpose."""
    residual = self.hook_in(residual)
    return self.hook_out(F.linear(residual, self._transposed["U"](self.W_U), self.b_U))


def reuse_transposed_weights(model):
    """Give every gated MLP and the unembedding of `model` cached transposed weights (in place).

    Meant for CPU inference, where the copies dominate decoding; on GPUs they are cheap and a
    second copy of the weights costs memory, so loaders apply this on CPU only. Layer-norm
    activation MLPs (SoLU) keep TL's own forward.
    """
    for module in model.modules():
        if type(module) is GatedMLP and not module.cfg.is_layer_norm_activation():
            module._transposed = {k: _TransposedCopy() for k in ("gate", "in", "out")}
            module.forward = types.MethodType(_gated_mlp_forward, module)
        elif type(module) is Unembed:
            module._transposed = {"U": _TransposedCopy()}
            module.forward = types.MethodType(_unembed_forward, module)
    return model


_PRODUCT_ORDER = {"W_Q": (0, 2, 1), "W_K": (0, 2, 1), "W_V": (0, 2, 1), "W_O": (2, 0, 1)}
"""Per attention weight, the permutation TL's forward applies before flattening it for a product
(`simple_attn_linear`: `head d_model d_head -> (head d_head) d_model`; the output projection:
`head d_head d_model -> d_model (head d_head)`)."""


@torch.no_grad()
def attention_weights_in_product_layout(model):
    """Store every attention weight of `model` so TL's per-forward rearrangement is a view (in
    place; shapes and values unchanged). Grouped-query attention's `_W_K`, `_W_V` included."""
    for module in model.modules():
        if not isinstance(module, AbstractAttention):
            continue
        for name, param in module.named_parameters(recurse=False):
            order = _PRODUCT_ORDER.get(name.removeprefix("_"))
            if order is None or param.ndim != 3:
                continue
            inverse = tuple(sorted(range(3), key=order.__getitem__))
            param.data = param.data.permute(order).contiguous().permute(inverse)
    return model
