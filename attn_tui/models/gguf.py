"""GGUF files: the header read and checked here, tensors dequantised by the `gguf` package (llama.cpp's own).

The layout is llama.cpp's (ggml/docs/gguf.md):

    magic "GGUF" · u32 version · u64 n_tensors · u64 n_kv · n_kv × (key, type, value)
    · n_tensors × (name, u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset) · padding · data

Dimensions are stored fastest-first (ggml's `ne`), so a torch shape is their reverse. The header is
parsed here rather than with `gguf.GGUFReader`, which builds a numpy array per string and took
10 s on SmolLM2's 49,152-token vocabulary (this parser: 0.2 s); every count, length and byte range
is bounded by the file's size before it is used. Tensor bytes are read (not memory-mapped, so the
file's pages never count in the process's memory) and dequantised with `gguf.quants.dequantize`,
except Q4_0, Q4_1 and Q8_0, done in torch in gguf's order of operations (bit-identical, checked
against gguf in the tests; SmolLM2 loads in 1.5 s instead of 3.6 s).
The metadata is translated to Hugging Face config keys and the tensor names to transformers',
so the architectures read GGUF and safetensors alike; llama.cpp's Q/K row order is undone at load.
"""

from __future__ import annotations

import math
import mmap
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attn_tui.models.base import CheckpointError, UnsupportedArchitecture
from attn_tui.models.checkpoint import Checkpoint, TensorMeta
from attn_tui.models.gguf_quants import read_tensor

if TYPE_CHECKING:
    import torch

SUPPORTED_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
                   "Q6_K")
"""ggml tensor types attn-tui dequantises (gguf.quants does the arithmetic)."""

# GGUF metadata value types → struct format (8 string, 9 array are read by hand).
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "<?", 10: "<u8", 11: "<i8",
          12: "<f8"}

GGUF_ARCHITECTURES = {"llama": "llama", "qwen2": "qwen2", "gpt2": "gpt2"}
"""general.architecture → the Hugging Face model_type whose code runs it. (llama.cpp writes Mistral's
models as "llama".)"""

_LLAMA_LAYER = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
_LLAMA_GLOBAL = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
    "rope_freqs.weight": "rope_freqs.weight",
}
_GPT2_LAYER = {
    "attn_norm.weight": "ln_1.weight", "attn_norm.bias": "ln_1.bias",
    "attn_qkv.weight": "attn.c_attn.weight", "attn_qkv.bias": "attn.c_attn.bias",
    "attn_output.weight": "attn.c_proj.weight", "attn_output.bias": "attn.c_proj.bias",
    "ffn_norm.weight": "ln_2.weight", "ffn_norm.bias": "ln_2.bias",
    "ffn_up.weight": "mlp.c_fc.weight", "ffn_up.bias": "mlp.c_fc.bias",
    "ffn_down.weight": "mlp.c_proj.weight", "ffn_down.bias": "mlp.c_proj.bias",
}
_GPT2_GLOBAL = {
    "token_embd.weight": "transformer.wte.weight",
    "position_embd.weight": "transformer.wpe.weight",
    "output_norm.weight": "transformer.ln_f.weight",
    "output_norm.bias": "transformer.ln_f.bias",
    "output.weight": "lm_head.weight",
}
NAMES: dict[str, tuple[dict[str, str], dict[str, str], str]] = {
    "llama": (_LLAMA_GLOBAL, _LLAMA_LAYER, "model.layers.{}."),
    "qwen2": (_LLAMA_GLOBAL, _LLAMA_LAYER, "model.layers.{}."),
    "gpt2": (_GPT2_GLOBAL, _GPT2_LAYER, "transformer.h.{}."),
}
"""llama.cpp's tensor names → transformers' (global names, per-layer names, the layer prefix)."""
_GPT2_TRANSPOSED = {"attn_qkv.weight", "attn_output.weight", "ffn_up.weight", "ffn_down.weight"}
"""GPT-2's Conv1D weights, which llama.cpp's converter stores transposed to (out, in): served as (in, out)."""


class _Cursor:
    """Sequential little-endian reads from the header, each bounded by the file's end."""

    def __init__(self, buf: mmap.mmap, where: str) -> None:
        self.buf = buf
        self.pos = 0
        self.where = where

    def fail(self, what: str) -> CheckpointError:
        return CheckpointError(f"{self.where}: truncated or corrupt GGUF header ({what} at byte {self.pos:,})")

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise self.fail("the file ends inside the header")
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        n = self.take("<Q")
        if self.pos + n > len(self.buf):
            raise self.fail(f"a string of {n:,} bytes runs past the end")
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("a string that is not UTF-8") from None

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return self.take(_SCALARS[vtype])
        if vtype == 8:
            return self.string()
        if vtype == 9 and depth == 0:
            item_type = self.take("<I")
            n = self.take("<Q")
            if n > len(self.buf) - self.pos:  # every item takes at least one byte
                raise self.fail(f"an array of {n:,} items runs past the end")
            if item_type in _NUMPY:
                import numpy as np

                dtype = np.dtype(_NUMPY[item_type])
                if self.pos + n * dtype.itemsize > len(self.buf):
                    raise self.fail("an array runs past the end")
                # Numeric arrays (token types, scores) in one read rather than n struct calls.
                arr = np.frombuffer(self.buf, dtype=dtype, count=n, offset=self.pos).copy()
                self.pos += n * dtype.itemsize
                return arr.tolist()
            return [self.value(item_type, depth + 1) for _ in range(n)]
        raise self.fail(f"unknown metadata type {vtype}")


def read_header(path: Path) -> tuple[dict[str, Any], dict[str, tuple[tuple[int, ...], int, int]], int]:
    """(metadata, tensors as name → (torch shape, ggml type, absolute offset), file size), all checked."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    where = str(path)
    try:
        file = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as error:
        raise CheckpointError(f"{where}: cannot be read ({error.strerror})") from None
    with file:
        size = path.stat().st_size
        if size < 24:
            raise CheckpointError(f"{where}: not a GGUF file ({size} bytes)")
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            if buf[:4] != b"GGUF":
                raise CheckpointError(f"{where}: not a GGUF file (it starts with {bytes(buf[:4])!r}, not b'GGUF')")
            cur = _Cursor(buf, where)
            cur.pos = 4
            version = cur.take("<I")
            if version not in (2, 3):
                raise CheckpointError(f"{where}: GGUF version {version} is not supported (2 and 3 are)")
            n_tensors, n_kv = cur.take("<Q"), cur.take("<Q")
            if n_tensors > size // 24 or n_kv > size // 12:
                raise cur.fail(f"{n_tensors:,} tensors and {n_kv:,} keys cannot fit in {size:,} bytes")
            metadata: dict[str, Any] = {}
            for _ in range(n_kv):
                key = cur.string()
                metadata[key] = cur.value(cur.take("<I"))
            raw = []
            for _ in range(n_tensors):
                name = cur.string()
                n_dims = cur.take("<I")
                if not 1 <= n_dims <= 4:
                    raise cur.fail(f"{name} has {n_dims} dimensions")
                dims = [cur.take("<Q") for _ in range(n_dims)]
                raw.append((name, tuple(reversed(dims)), cur.take("<I"), cur.take("<Q")))
            align = metadata.get("general.alignment", 32)
            if not isinstance(align, int) or align <= 0 or align & (align - 1):
                raise cur.fail(f"alignment {align!r} is not a power of two")
            data_start = (cur.pos + align - 1) // align * align
    tensors: dict[str, tuple[tuple[int, ...], int, int]] = {}
    for name, shape, gtype, offset in raw:
        if name in tensors:
            raise CheckpointError(f"{where}: the tensor {name} appears twice")
        try:
            qtype = GGMLQuantizationType(gtype)
            block, block_bytes = GGML_QUANT_SIZES[qtype]
        except (ValueError, KeyError):
            raise CheckpointError(f"{where}: {name} has an unknown ggml type {gtype}") from None
        if shape[-1] % block:
            raise CheckpointError(f"{where}: {name} has rows of {shape[-1]}, not a multiple of {qtype.name}'s "
                                  f"block of {block}")
        n_bytes = math.prod(shape) // block * block_bytes
        start = data_start + offset
        if start + n_bytes > size:
            raise CheckpointError(f"{where}: truncated: {name} needs bytes up to {start + n_bytes:,}, "
                                  f"the file has {size:,}")
        tensors[name] = (shape, gtype, start)
    return metadata, tensors, size


def type_name(gtype: int) -> str:
    from gguf.constants import GGMLQuantizationType

    try:
        return GGMLQuantizationType(gtype).name
    except ValueError:
        return f"type {gtype}"


def _file_type(metadata: dict[str, Any]) -> str | None:
    from gguf.constants import LlamaFileType

    try:
        name = LlamaFileType(int(metadata["general.file_type"])).name
    except (KeyError, ValueError, TypeError):
        return None
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


class GGUFCheckpoint(Checkpoint):
    """A GGUF file, opened: header read, metadata as config.json keys, tensors under transformers' names."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.metadata, self._tensors, _ = read_header(path)
        meta = self.metadata
        where = str(path)
        arch = meta.get("general.architecture")
        if arch not in GGUF_ARCHITECTURES:
            raise UnsupportedArchitecture(f"{where}: GGUF architecture {arch!r} is not supported; attn-tui runs "
                                          f"{', '.join(GGUF_ARCHITECTURES)} GGUF files")
        self.model_type = str(arch)
        self.arch = arch

        def key(name: str, default: Any = None) -> Any:
            return meta.get(f"{arch}.{name}", default)

        embd = self._tensors.get("token_embd.weight")
        tokens = meta.get("tokenizer.ggml.tokens")
        vocab = key("vocab_size") or (embd[0][0] if embd else None) or \
            (len(tokens) if isinstance(tokens, list) else None)
        heads = key("attention.head_count")
        global_names, layer_names, layer_prefix = NAMES[arch]
        self._names: dict[str, str] = {}  # HF name → GGUF name
        for name in self._tensors:
            hf = global_names.get(name)
            if hf is None and name.startswith("blk."):
                _, index, rest = name.split(".", 2)
                if rest in layer_names:
                    hf = layer_prefix.format(index) + layer_names[rest]
            if hf is not None:
                self._names[hf] = name
        self._transposed = _GPT2_TRANSPOSED if arch == "gpt2" else set()
        self._permute: dict[str, int] = {}
        self.tensors = {hf: TensorMeta(self._shape(g), type_name(self._tensors[g][1])) for hf, g in self._names.items()}
        file_type = _file_type(meta)
        general_name = meta.get("general.name")
        self.title = (f"{general_name} ({file_type})" if isinstance(general_name, str) and general_name and file_type
                      else path.name)
        if arch == "gpt2":
            self.config = {
                "model_type": "gpt2",
                "n_embd": key("embedding_length"),
                "n_layer": key("block_count"),
                "n_head": heads,
                "n_inner": key("feed_forward_length"),
                "n_positions": key("context_length", 1024),
                "layer_norm_epsilon": key("attention.layer_norm_epsilon", 1e-5),
                "vocab_size": vocab,
                "tie_word_embeddings": "output.weight" not in self._tensors,
            }
            return
        self.config = {
            "model_type": GGUF_ARCHITECTURES[arch],
            "hidden_size": key("embedding_length"),
            "num_hidden_layers": key("block_count"),
            "num_attention_heads": heads,
            "num_key_value_heads": key("attention.head_count_kv", heads),
            "intermediate_size": key("feed_forward_length"),
            "rms_norm_eps": key("attention.layer_norm_rms_epsilon", 1e-5),
            "rope_parameters": {"rope_type": "default", "rope_theta": key("rope.freq_base", 10000.0)},
            "max_position_embeddings": key("context_length", 2048),
            "vocab_size": vocab,
            "tie_word_embeddings": "output.weight" not in self._tensors,
        }
        if key("expert_count"):
            raise UnsupportedArchitecture(f"{where}: a mixture-of-experts model ({key('expert_count')} experts); "
                                          "attn-tui runs dense llama, qwen2 and gpt2 GGUF files")
        if key("attention.key_length") is not None:
            self.config["head_dim"] = key("attention.key_length")
        head_dim = self.config.get("head_dim")
        if head_dim is None and isinstance(self.config["hidden_size"], int) and isinstance(heads, int) and heads:
            head_dim = self.config["hidden_size"] // heads
        rotary = key("rope.dimension_count")
        if rotary is not None and rotary != head_dim:
            raise CheckpointError(f"{where}: rope on {rotary} of {head_dim} dimensions per head (partial rotary "
                                  "embeddings) is not supported")
        scaling = key("rope.scaling.type")
        if scaling not in (None, "none") and "rope_freqs.weight" not in self._tensors:
            raise CheckpointError(f"{where}: rope scaling {scaling!r} is not supported")
        n_heads, n_kv = self.config["num_attention_heads"], self.config["num_key_value_heads"]
        if not isinstance(n_heads, int) or not isinstance(n_kv, int) or n_heads < 1 or n_kv < 1:
            raise CheckpointError(f"{where}: the header's head counts ({n_heads!r}, {n_kv!r}) are not usable")
        # llama.cpp's convert script permutes Llama's Q and K rows (not Qwen2's) for its rope kernel.
        self._permute = {"attn_q": n_heads, "attn_k": n_kv} if arch == "llama" else {}

    def _shape(self, gguf_name: str) -> tuple[int, ...]:
        shape = self._tensors[gguf_name][0]
        return tuple(reversed(shape)) if gguf_name.split(".", 2)[-1] in self._transposed else shape

    def label(self, name: str) -> str:
        """The file's own name for a tensor (blk.3.attn_q.weight), for messages."""
        if name in self._names:
            return self._names[name]
        global_names, layer_names, layer_prefix = NAMES[self.arch]
        for gguf_name, hf in global_names.items():
            if hf == name:
                return gguf_name
        head, _, tail = layer_prefix.partition("{}")
        if name.startswith(head):
            index, _, rest = name[len(head):].partition(tail)
            for gguf_name, hf in layer_names.items():
                if hf == rest and index.isdigit():
                    return f"blk.{index}.{gguf_name}"
        return name

    def check_dtype(self, name: str) -> None:
        kind = self.tensors[name].dtype
        if kind not in SUPPORTED_TYPES:
            raise CheckpointError(f"{self.path}: {self._names[name]} is {kind}; attn-tui dequantises "
                                  f"{', '.join(SUPPORTED_TYPES)}")

    def dtype_label(self, names: list[str]) -> str:
        kinds = sorted({self.tensors[n].dtype for n in names})
        return kinds[0] if len(kinds) == 1 else "mixed: " + ", ".join(kinds)

    def fetch(self, name: str) -> Any:
        gname = self._names[name]
        tensor = read_tensor(self.path, gname, *self._tensors[gname])
        if gname.split(".", 2)[-1] in self._transposed:
            tensor = tensor.t()  # back to Conv1D's (in, out); the architecture transposes it to (out, in)
        stem = gname.split(".")[-2] if gname.startswith("blk.") else ""
        if stem in self._permute:
            tensor = unpermute(tensor, self._permute[stem])
        return tensor

    def tokenizer(self, vocab_size: int) -> Any:
        from attn_tui.models.tokenizer import from_gguf

        return from_gguf(self.metadata, vocab_size, str(self.path))


def load_tensor(path: Path, name: str) -> Any:
    """A tensor of any GGUF file by its own name, as float32 (no model needed: for tests and tools)."""
    _, tensors, _ = read_header(Path(path))
    if name not in tensors:
        raise CheckpointError(f"{path}: no tensor {name}")
    return read_tensor(Path(path), name, *tensors[name])


def unpermute(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Undo llama.cpp's Q/K row order (pairs interleaved for ggml's rope) to HF's half-split order."""
    rows = w.shape[0]
    return w.reshape(n_heads, rows // n_heads // 2, 2, *w.shape[1:]).transpose(1, 2).reshape(w.shape)
