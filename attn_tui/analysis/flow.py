"""Attention beyond the raw weights (issue 16): value-weighted attention and attention rollout.

Value-weighted (Kobayashi et al. 2020, "Attention is not only a weight"): what key j actually adds
to query i in head h is α_ij · f_h(x_j), with f_h(x_j) = v_j^h W_O^h, so its size is α_ij · ‖f_h(x_j)‖.
A sink whose value is near zero gets a large weight and a small contribution.

Rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow"): the residual connection is modelled by
mixing in the identity, Ā_l = ½ · mean_h A_l + ½ · I (rows renormalised), and layers compose by
matrix product: rollout at layer l is Ā_l · … · Ā_1, row i saying how much of each input token
reaches position i after layer l.
"""

from __future__ import annotations

from typing import Any

from attn_tui.analysis._tensors import like_input, square_last, to_tensor

__all__ = ["rollout", "value_norms", "value_weighted"]


def value_norms(values: Any, w_o: Any = None) -> Any:
    """(L, H, T) ‖f_h(x_j)‖: the size of what each head's value of each token writes to the output.

    `values` (L, H_kv, T, d_v): each head's value vectors v_j^h. `w_o` (L, H, d_v, d_model): head h's
    slice of the output projection, so that v_j^h @ w_o[l, h] is its contribution (for a
    `nn.Linear` o_proj of weight (d_model, H·d_v): `weight.T.reshape(H, d_v, d_model)`). With key/value
    groups (H_kv < H, H a multiple of H_kv), query head h reads kv head h // (H / H_kv), as in
    transformers' `repeat_kv`. Without `w_o` (the toy, which has no output projection): ‖v_j^h‖,
    and H = H_kv. Numpy or torch in, the same kind out.
    """
    v, was_array = to_tensor(values)
    if v.dim() != 4:
        raise ValueError(f"values: expected (L, H_kv, T, d_v), got shape {tuple(v.shape)}")
    if w_o is None:
        return like_input(v.norm(dim=-1), was_array)  # (L, H, T)
    w, _ = to_tensor(w_o)
    w = w.to(v.dtype)
    n_layers, kv_heads, _, d_v = v.shape
    if w.dim() != 4 or w.shape[0] != n_layers or w.shape[2] != d_v or w.shape[1] % kv_heads:
        raise ValueError(f"w_o: expected (L={n_layers}, H (a multiple of {kv_heads}), d_v={d_v}, d_model), "
                         f"got shape {tuple(w.shape)}")
    v = v.repeat_interleave(w.shape[1] // kv_heads, dim=1)  # (L, H, T, d_v): query head h ← kv head h // group
    # One layer at a time: the (H, T, d_model) outputs of a whole model at once would be ~100 MB.
    norms = [(v[layer] @ w[layer]).norm(dim=-1) for layer in range(n_layers)]  # each (H, T)
    import torch

    return like_input(torch.stack(norms), was_array)  # (L, H, T)


def value_weighted(weights: Any, value_norms: Any) -> Any:
    """(L, H, T, T) α_ij · ‖f_h(x_j)‖: weights (L, H, T, T) scaled column-wise by value_norms (L, H, T).

    Rows no longer sum to 1; the UI shows this stage with its own scale. Masked cells stay 0.
    """
    a, was_array = to_tensor(weights)
    t = square_last(a, "weights", ndim=4)
    norms, _ = to_tensor(value_norms)
    if tuple(norms.shape) != (*a.shape[:2], t):
        raise ValueError(f"value_norms: expected shape {(*a.shape[:2], t)}, got {tuple(norms.shape)}")
    return like_input(a * norms.to(a.dtype).unsqueeze(-2), was_array)  # (L, H, T, T): column j × ‖f(x_j)‖


def rollout(weights: Any) -> Any:
    """(L, T, T) attention rollout after each layer: R_l = Ā_l · R_{l−1}, R_0 = I, Ā as in the module doc.

    Every row of every R_l sums to 1. For a causal model R_l stays lower-triangular.
    """
    import torch

    a, was_array = to_tensor(weights)
    t = square_last(a, "weights", ndim=4)
    eye = torch.eye(t, dtype=a.dtype)  # (T, T)
    mixed = 0.5 * a.mean(dim=1) + 0.5 * eye  # (L, T, T)
    mixed = mixed / mixed.sum(dim=-1, keepdim=True)  # rows renormalised: weights after hiding tokens need not sum to 1
    out = torch.empty_like(mixed)  # (L, T, T)
    current = eye
    for layer in range(a.shape[0]):
        current = mixed[layer] @ current  # (T, T): Ā_l · … · Ā_1
        out[layer] = current
    return like_input(out, was_array)
