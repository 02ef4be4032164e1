"""Shared tensor-shape vocabulary and the runtime shape checker.

Dimension names follow TransformerLens and our einops patterns (batch, pos, d_model, d_vocab,
category, n_prompts, d_sae). `typechecked` is applied to boundary functions; under pytest the
jaxtyping import hook checks every annotated function in the package.
"""

from beartype import beartype
from jaxtyping import Bool, Float, Int, jaxtyped
from torch import Tensor

typechecked = jaxtyped(typechecker=beartype)

__all__ = ["Bool", "Float", "Int", "Tensor", "typechecked"]
