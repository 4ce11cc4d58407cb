"""A small GGUF reader: the metadata, and tensors dequantised to float32 (F32, F16, Q4_0, Q4_1, Q8_0).

Torch, numpy and the standard library only. The layout is llama.cpp's (ggml/docs/gguf.md):

    magic "GGUF" · u32 version · u64 n_tensors · u64 n_kv · n_kv × (key, type, value)
    · n_tensors × (name, u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset) · padding · data

Dimensions are stored fastest-first (ggml's `ne`), so a torch shape is the reverse of them.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q4_1, GGML_Q8_0 = 0, 1, 2, 3, 8

BLOCKS: dict[int, tuple[int, int]] = {
    GGML_F32: (1, 4),
    GGML_F16: (1, 2),
    GGML_Q4_0: (32, 18),  # f16 d · 16 bytes of nibbles
    GGML_Q4_1: (32, 20),  # f16 d · f16 m · 16 bytes of nibbles
    GGML_Q8_0: (32, 34),  # f16 d · 32 int8
}
"""ggml type id → (elements per block, bytes per block), for the types this reader dequantises."""

TYPE_NAMES = {GGML_F32: "F32", GGML_F16: "F16", GGML_Q4_0: "Q4_0", GGML_Q4_1: "Q4_1", GGML_Q8_0: "Q8_0"}

# GGUF metadata value types → struct format (8 string, 9 array are read by hand).
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q",
            12: "<d"}
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "<?", 10: "<u8", 11: "<i8",
          12: "<f8"}


class GGUFError(ValueError):
    """The file is not a GGUF this reader understands (bad magic, unknown type, truncated)."""


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lies in the file and how it is encoded."""

    name: str
    shape: tuple[int, ...]
    """Torch order (slowest first): (rows, columns) for a weight matrix."""
    ggml_type: int
    """ggml's type id (3 is Q4_1, 8 is Q8_0, ...)."""
    offset: int
    """Absolute byte offset of the first block in the file."""

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def n_bytes(self) -> int:
        per_block, block_bytes = BLOCKS[self.ggml_type]
        return self.n_elements // per_block * block_bytes


class _Cursor:
    """Sequential little-endian reads from a memory map."""

    def __init__(self, buf: mmap.mmap) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise GGUFError("file ends inside its header")
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        n = self.take("<Q")
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8", errors="replace")

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.take(_SCALARS[vtype])
        if vtype == 8:
            return self.string()
        if vtype == 9:
            item_type = self.take("<I")
            n = self.take("<Q")
            if item_type in _NUMPY:
                # Numeric arrays (token types, scores) in one read rather than n struct calls.
                dtype = np.dtype(_NUMPY[item_type])
                arr = np.frombuffer(self.buf, dtype=dtype, count=n, offset=self.pos).copy()
                self.pos += n * dtype.itemsize
                return arr.tolist()
            return [self.value(item_type) for _ in range(n)]
        raise GGUFError(f"unknown GGUF metadata type {vtype}")


class GGUFFile:
    """An open GGUF: `metadata` (key → value) and `tensors` (name → TensorInfo), data read on demand."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: BinaryIO = open(self.path, "rb")  # noqa: SIM115 (closed by close())
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        cur = _Cursor(self._map)
        if self._map[:4] != b"GGUF":
            raise GGUFError(f"{self.path.name} is not a GGUF file (magic {bytes(self._map[:4])!r})")
        cur.pos = 4
        self.version = cur.take("<I")
        if self.version not in (2, 3):
            raise GGUFError(f"GGUF version {self.version} is not supported (2 and 3 are)")
        n_tensors = cur.take("<Q")
        n_kv = cur.take("<Q")
        self.metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = cur.string()
            self.metadata[key] = cur.value(cur.take("<I"))
        raw_infos = []
        for _ in range(n_tensors):
            name = cur.string()
            n_dims = cur.take("<I")
            dims = [cur.take("<Q") for _ in range(n_dims)]
            raw_infos.append((name, tuple(reversed(dims)), cur.take("<I"), cur.take("<Q")))
        align = int(self.metadata.get("general.alignment", 32))
        data_start = (cur.pos + align - 1) // align * align
        self.tensors: dict[str, TensorInfo] = {
            name: TensorInfo(name, shape, gtype, data_start + offset)
            for name, shape, gtype, offset in raw_infos
        }

    def close(self) -> None:
        self._map.close()
        self._file.close()

    def __enter__(self) -> GGUFFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def raw(self, name: str) -> torch.Tensor:
        """The tensor's bytes, copied out of the map, as a flat uint8 tensor."""
        info = self.tensors[name]
        if info.ggml_type not in BLOCKS:
            raise GGUFError(f"{name}: ggml type {info.ggml_type} is not supported "
                            f"({', '.join(TYPE_NAMES.values())} are)")
        if info.offset + info.n_bytes > len(self._map):
            raise GGUFError(f"{name}: data runs past the end of the file")
        arr = np.frombuffer(self._map, dtype=np.uint8, count=info.n_bytes, offset=info.offset).copy()
        return torch.from_numpy(arr)

    def tensor(self, name: str) -> torch.Tensor:
        """The tensor dequantised to float32, in torch order."""
        info = self.tensors[name]
        return dequantize(self.raw(name), info.ggml_type).view(info.shape)


def dequantize(raw: torch.Tensor, ggml_type: int) -> torch.Tensor:
    """Flat float32 values of `raw` (uint8 bytes) encoded as `ggml_type`, as ggml's dequantize_row_* does."""
    if ggml_type == GGML_F32:
        return raw.view(torch.float32).clone()
    if ggml_type == GGML_F16:
        return raw.view(torch.float16).float()
    per_block, block_bytes = BLOCKS[ggml_type]
    blocks = raw.view(-1, block_bytes)  # (n_blocks, block_bytes)
    d = blocks[:, 0:2].contiguous().view(torch.float16).float()  # (n_blocks, 1) scale
    if ggml_type == GGML_Q8_0:
        q = blocks[:, 2:].contiguous().view(torch.int8).float()  # (n_blocks, 32)
        return (d * q).reshape(-1)
    if ggml_type == GGML_Q4_1:
        m = blocks[:, 2:4].contiguous().view(torch.float16).float()  # (n_blocks, 1) minimum
        qs = blocks[:, 4:]  # (n_blocks, 16)
    else:  # Q4_0: nibbles are offset by 8, no minimum
        m = None
        qs = blocks[:, 2:]  # (n_blocks, 16)
    # Element j of a block is the low nibble of byte j; element j + 16 is the high nibble.
    # Filled in place: these weights are ~135M numbers, and each temporary costs a pass over them.
    q = torch.empty(blocks.shape[0], per_block, dtype=torch.float32)  # (n_blocks, 32)
    q[:, : per_block // 2] = qs & 0x0F
    q[:, per_block // 2 :] = qs >> 4
    if m is None:
        return q.sub_(8.0).mul_(d).view(-1)
    return q.mul_(d).add_(m).view(-1)


def type_name(ggml_type: int) -> str:
    return TYPE_NAMES.get(ggml_type, f"type {ggml_type}")
