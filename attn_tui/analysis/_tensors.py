"""Array plumbing shared by the analyses: numpy or torch in, the same kind out, torch imported lazily."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


def to_tensor(x: Any) -> tuple[torch.Tensor, bool]:
    """(a contiguous floating CPU tensor of x, whether x was not a tensor). Shares memory where it can.

    float32 and float64 are kept; any other dtype (ints, float16, bfloat16) becomes float32.
    """
    import torch

    was_array = not isinstance(x, torch.Tensor)
    if was_array:
        arr = np.asarray(x)
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float32)
        with warnings.catch_warnings():
            # A read-only array (np.broadcast_to, a frozen result) is only ever read here.
            warnings.simplefilter("ignore", UserWarning)
            t = torch.as_tensor(arr)
    else:
        t = x.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.dtype not in (torch.float32, torch.float64):
            t = t.float()
    return t.contiguous(), was_array


def like_input(t: torch.Tensor, was_array: bool) -> Any:
    """t as a numpy array if the input was not a tensor, else t itself."""
    return t.numpy() if was_array else t


def square_last(t: torch.Tensor, what: str, ndim: int | None = None) -> int:
    """T for a (..., T, T) tensor; ValueError naming `what` otherwise."""
    if (ndim is not None and t.dim() != ndim) or t.dim() < 2 or t.shape[-1] != t.shape[-2]:
        want = f"{ndim}-D " if ndim is not None else ""
        raise ValueError(f"{what}: expected a {want}(..., T, T) array, got shape {tuple(t.shape)}")
    if t.shape[-1] == 0:
        raise ValueError(f"{what}: no tokens (T = 0)")
    return int(t.shape[-1])
