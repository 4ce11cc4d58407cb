"""A GGUF tensor's bytes read and dequantised to float32 (attn_tui.models.gguf reads the header).

Every type through `gguf.quants.dequantize` (llama.cpp's own package), except the commonest block types,
Q4_0, Q4_1 and Q8_0, which are done in torch in gguf's order of operations: the same float32 bits
(tests/test_checkpoints.py checks them against gguf on every type), about 3× faster.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from attn_tui.models.base import CheckpointError


def read_tensor(path: Path, name: str, shape: tuple[int, ...], gtype: int, start: int) -> Any:
    """One tensor as float32 in torch order: its bytes read from the file, dequantised by gguf."""
    import numpy as np
    import torch
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType
    from gguf.quants import dequantize

    qtype = GGMLQuantizationType(gtype)
    block, block_bytes = GGML_QUANT_SIZES[qtype]
    raw = np.empty((math.prod(shape[:-1]), shape[-1] // block * block_bytes), dtype=np.uint8)  # (rows, bytes)
    try:
        with open(path, "rb") as file:
            file.seek(start)
            got = file.readinto(raw.reshape(-1).data)
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read {name} ({error.strerror})") from None
    if got != raw.nbytes:
        raise CheckpointError(f"{path}: truncated while reading {name}")
    if qtype.name in _FAST:
        return _FAST[qtype.name](torch.from_numpy(raw).view(-1, block_bytes)).view(shape)
    values = dequantize(raw, qtype)  # (rows, columns) float32
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32).reshape(shape))


# The commonest block types in torch, in gguf.quants' order of operations (so the same float32 bits;
# tests/test_checkpoints.py checks them against gguf on every one): gguf's numpy path groups rows and
# concatenates, about 3× slower, and SmolLM2's 135M Q4_1 weights are most of its load time.


def _scale(blocks: Any, start: int) -> Any:
    import torch

    return blocks[:, start : start + 2].contiguous().view(torch.float16).float()  # (n_blocks, 1)


def _nibbles(qs: Any) -> Any:
    """Element j of a block is the low nibble of byte j, element j + half the high nibble (ggml's order)."""
    import torch

    half = qs.shape[1]
    q = torch.empty(qs.shape[0], 2 * half, dtype=torch.float32)  # (n_blocks, 32)
    q[:, :half] = qs & 0x0F
    q[:, half:] = qs >> 4
    return q


# In place: one float32 tensor the size of the result, no second one (the embedding alone is 113 MB).


def _q4_0(blocks: Any) -> Any:
    return _nibbles(blocks[:, 2:]).sub_(8.0).mul_(_scale(blocks, 0))  # (n_blocks, 32)


def _q4_1(blocks: Any) -> Any:
    return _nibbles(blocks[:, 4:]).mul_(_scale(blocks, 0)).add_(_scale(blocks, 2))  # (n_blocks, 32)


def _q8_0(blocks: Any) -> Any:
    import torch

    q = torch.empty(blocks.shape[0], blocks.shape[1] - 2, dtype=torch.float32)  # (n_blocks, 32)
    q.copy_(blocks[:, 2:].view(torch.int8))
    return q.mul_(_scale(blocks, 0))


_FAST = {"Q4_0": _q4_0, "Q4_1": _q4_1, "Q8_0": _q8_0}
