"""A Hugging Face folder: config.json, safetensors weights (one file or shards), tokenizer.json.

Every safetensors header is read and checked with the standard library first (names, dtypes,
shapes, byte ranges against the file's size), so a truncated or inconsistent file is refused
before any weight is read. Tensors are then read one at a time through `safetensors.safe_open`
(its pread backend where the installed safetensors has one: a bfloat16 file's memory-mapped pages
would otherwise count in the process's memory on top of the float32 copies).
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attn_tui.models.base import CheckpointError
from attn_tui.models.checkpoint import Checkpoint, TensorMeta, architecture_of

DTYPES = {"F32": 4, "F16": 2, "BF16": 2}
"""safetensors dtypes attn-tui reads (computed in float32), and their bytes per element."""
DTYPE_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
OTHER_DTYPES = {"F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1, "U16": 2, "U32": 4,
                "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}
MAX_HEADER = 100 * 2**20
"""A safetensors header larger than this is not a model header (safetensors' own limit)."""


@dataclass(frozen=True)
class _Entry:
    file: Path
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


def convert_command(folder: Path) -> str:
    """A shell command that turns pytorch_model.bin into model.safetensors (torch.load with weights_only)."""
    src, dst = folder / "pytorch_model.bin", folder / "model.safetensors"
    code = ("import torch; from safetensors.torch import save_file; "
            f"w = torch.load({str(src)!r}, map_location='cpu', weights_only=True); "
            f"save_file({{k: v.detach().clone().contiguous() for k, v in w.items()}}, {str(dst)!r}, "
            "metadata={'format': 'pt'})")
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def read_header(path: Path) -> dict[str, _Entry]:
    """The tensors of one safetensors file, every byte range checked against the file's size."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as file:
            head = file.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{path}: truncated ({size} bytes; a safetensors file starts with an "
                                      "8-byte header size)")
            n = int.from_bytes(head, "little")
            if n > MAX_HEADER or 8 + n > size:
                raise CheckpointError(f"{path}: truncated or not safetensors (header of {n} bytes, "
                                      f"file of {size})")
            raw = file.read(n)
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be read ({error.strerror})") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CheckpointError(f"{path}: corrupt safetensors header (not JSON)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header")
    data_size = size - 8 - n
    entries: dict[str, _Entry] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
            if not all(isinstance(d, int) and d >= 0 for d in shape) or not isinstance(start, int) \
                    or not isinstance(end, int):
                raise TypeError
        except (TypeError, KeyError, ValueError):
            raise CheckpointError(f"{path}: corrupt safetensors header at {name!r}") from None
        itemsize = DTYPES.get(dtype) or OTHER_DTYPES.get(dtype)
        if itemsize is None:
            raise CheckpointError(f"{path}: {name} has an unknown dtype {dtype!r}")
        if end - start != math.prod(shape) * itemsize or start < 0:
            raise CheckpointError(f"{path}: corrupt safetensors header: {name} {list(shape)} {dtype} "
                                  f"does not fill its byte range {start}..{end}")
        if end > data_size:
            raise CheckpointError(f"{path}: truncated: {name} needs bytes up to {8 + n + end:,}, "
                                  f"the file has {size:,}")
        entries[name] = _Entry(path, dtype, shape, start, end)
    return entries


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{folder}: not a model folder: no config.json (a Hugging Face folder has "
                              "config.json, model.safetensors and tokenizer.json)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise CheckpointError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: not a JSON object")
    return config


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of the folder (one, or the shards its index names), or a refusal saying why."""
    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            names = sorted(set(weight_map.values()))
            if not isinstance(weight_map, dict) or not all(isinstance(n, str) for n in names):
                raise TypeError
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
            raise CheckpointError(f"{index}: not a safetensors index (a JSON object with a weight_map)") from None
        files = []
        for name in names:
            shard = (folder / name).resolve()
            if shard.parent != folder.resolve() or not shard.is_file():
                raise CheckpointError(f"{index}: names the shard {name!r}, which is not in {folder}")
            files.append(shard)
        return files
    if single.is_file():
        return [single]
    if (folder / "pytorch_model.bin").is_file() or list(folder.glob("pytorch_model-*.bin")):
        how = (f"convert it with: {convert_command(folder)}" if (folder / "pytorch_model.bin").is_file()
               else "convert the shards to safetensors (transformers: from_pretrained, then "
                    "save_pretrained(folder, safe_serialization=True))")
        raise CheckpointError(f"{folder}: only pytorch_model.bin weights, which are pickles and can run code "
                              f"when read; attn-tui reads safetensors only. If you trust the file, {how}")
    raise CheckpointError(f"{folder}: no model.safetensors (nor model.safetensors.index.json with its shards)")


class FolderCheckpoint(Checkpoint):
    """A Hugging Face folder, opened: config and tensor headers read, no weight read yet."""

    def __init__(self, folder: Path) -> None:
        self.path = folder
        self.config = read_config(folder)
        self.model_type = str(self.config.get("model_type", ""))
        architecture_of(self.config, str(folder))  # refused here, before a weight file is opened
        self.title = folder.name
        self._files = weight_files(folder)
        self._entries: dict[str, _Entry] = {}
        for file in self._files:
            for name, entry in read_header(file).items():
                if name in self._entries:
                    raise CheckpointError(f"{folder}: the tensor {name} is in two shards")
                self._entries[name] = entry
        self.tensors = {name: TensorMeta(e.shape, e.dtype) for name, e in self._entries.items()}
        self._open: dict[Path, Any] = {}

    def dtype_label(self, names: list[str]) -> str:
        kinds = sorted({DTYPE_NAMES.get(self._entries[n].dtype, self._entries[n].dtype) for n in names})
        return kinds[0] if len(kinds) == 1 else "mixed: " + ", ".join(kinds)

    def check_dtype(self, name: str) -> None:
        dtype = self._entries[name].dtype
        if dtype not in DTYPES:
            raise CheckpointError(f"{self.path}: {name} is stored as {dtype}; attn-tui reads "
                                  f"{', '.join(DTYPE_NAMES.values())} weights")

    def fetch(self, name: str) -> Any:
        import torch
        from safetensors import safe_open

        entry = self._entries[name]
        handle = self._open.get(entry.file)
        try:
            if handle is None:
                try:
                    handle = safe_open(str(entry.file), framework="pt", backend="pread")
                except TypeError:  # a safetensors without the pread backend: memory-mapped
                    handle = safe_open(str(entry.file), framework="pt")
                self._open[entry.file] = handle
            tensor = handle.get_tensor(name)
        except CheckpointError:
            raise
        except Exception as error:  # noqa: BLE001 — safetensors raises its own SafetensorError
            raise CheckpointError(f"{entry.file}: cannot read {name} ({str(error).splitlines()[0]})") from None
        return tensor.to(torch.float32)

    def close(self) -> None:
        self._open.clear()

    def tokenizer(self, vocab_size: int) -> Any:
        from attn_tui.models.tokenizer import from_file

        return from_file(self.path / "tokenizer.json", vocab_size)
