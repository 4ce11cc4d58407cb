"""attn_tui.models against transformers' eager attention: one forward pass with every attention map, per architecture.

Runs in the reference environment (transformers is never a dependency of attn-tui):

    PYTHONPATH=. /tmp/refenv/bin/python -m benchmarks.checkpoints [--threads 2] [--tokens 128] [--repeat 7]

For each architecture it takes the tiny fixture's config (tests/fixtures/checkpoints/ARCH) scaled
to a realistic small model (hidden 576, 12 layers, 9 heads of 64; 3 key/value heads for the Llama
family; vocabulary 8,000), draws float32 weights, saves them with save_pretrained, and times on the
same random ids (tokenising excluded on both sides), alternating the two, after one warm-up each:

- ours: `Model.forward(ids)`, which keeps every layer's attention, queries, keys, values, value norms;
- transformers: the base model (no LM head) with `attn_implementation="eager"`, `output_attentions=True`.

With --cpu-time and --threads 1 the clock is the thread's CPU time: on a machine shared with other
work, it measures the work each pass does rather than how long it waited for a core.

Then the bundled minilm and smollm2 (transformers reads the SmolLM2 GGUF with its own loader), and
for those two the load time and peak memory of `load()` + one run in a fresh process.
Prints "median (best)" milliseconds and ours / transformers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "checkpoints"
SCALE = {"hidden": 576, "layers": 12, "heads": 9, "kv_heads": 3, "ffn": 1536, "vocab": 8000}


def scaled_config(arch: str):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(FIXTURES / arch)
    s = SCALE
    if arch == "distilbert":
        config.dim, config.n_layers, config.n_heads, config.hidden_dim = s["hidden"], s["layers"], s["heads"], s["ffn"]
        config.max_position_embeddings = 1024
    elif arch == "gpt2":
        config.n_embd, config.n_layer, config.n_head, config.n_inner = s["hidden"], s["layers"], s["heads"], s["ffn"]
        config.n_positions = 1024
    else:
        config.hidden_size, config.num_hidden_layers = s["hidden"], s["layers"]
        config.num_attention_heads, config.intermediate_size = s["heads"], s["ffn"]
        config.max_position_embeddings = 1024
        if arch in ("llama", "mistral", "qwen2"):
            config.num_key_value_heads, config.head_dim = s["kv_heads"], s["hidden"] // s["heads"]
            if arch == "mistral":
                config.sliding_window = 4096
            if getattr(config, "layer_types", None) is not None:
                config.layer_types = ["full_attention"] * s["layers"]
    config.vocab_size = s["vocab"]
    return config


def make_folder(arch: str, folder: Path) -> None:
    import shutil

    from transformers import AutoModel, AutoModelForCausalLM

    config = scaled_config(arch)
    torch.manual_seed(0)
    cls = AutoModelForCausalLM if arch in ("gpt2", "llama", "mistral", "qwen2") else AutoModel
    model = cls.from_config(config).float()
    model.save_pretrained(folder)
    # Any tokenizer whose ids fit: the ids timed are drawn at random, not tokenised.
    shutil.copy(FIXTURES / arch / "tokenizer.json", folder / "tokenizer.json")


def reference_model(path: Path, gguf: bool = False):
    from transformers import AutoModel

    if gguf:
        return AutoModel.from_pretrained(path.parent, gguf_file=path.name, attn_implementation="eager",
                                         dtype=torch.float32).eval()
    return AutoModel.from_pretrained(path, attn_implementation="eager", dtype=torch.float32).eval()


def time_both(ours, theirs, ids: torch.Tensor, repeat: int, clock=time.perf_counter) -> tuple[list[float], list[float]]:
    ours_ms, theirs_ms = [], []
    with torch.inference_mode():
        ours.forward(ids)
        theirs(input_ids=ids[None], output_attentions=True)
        for _ in range(repeat):
            start = clock()
            ours.forward(ids)
            ours_ms.append((clock() - start) * 1000)
            start = clock()
            theirs(input_ids=ids[None], output_attentions=True)
            theirs_ms.append((clock() - start) * 1000)
    return ours_ms, theirs_ms


def cell(ms: list[float]) -> str:
    return f"{statistics.median(ms):.0f} ({min(ms):.0f})"


_MEMORY_CHILD = """
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[2]))
import attn_tui.models as models, safetensors, tokenizers, gguf

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

base = hwm()
start = time.perf_counter()
model = models.load(sys.argv[1])
loaded = time.perf_counter() - start
result = model.run("The cat sat on the mat because it was tired of sitting.")
print(json.dumps({"load": loaded, "base": base, "peak": hwm(), "tokens": result.n_tokens,
                  "layers": result.n_layers, "heads": result.n_heads}))
"""


def memory(name: str, threads: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, name, str(threads)], capture_output=True, text=True,
                         cwd=ROOT, timeout=600)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout)


def float32_bytes(model) -> int:
    return sum(t.numel() * 4 for t in model.w.values()) + sum(
        t.numel() * 4 for layer in model.layers for k, t in layer.items() if k != "gram")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", nargs="*", help="architectures or bundled names to run")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with the thread's CPU clock (with --threads 1: the work done, whatever else "
                             "runs on the machine) instead of the wall clock")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    import transformers

    import attn_tui.models as models

    T = args.tokens
    clock = "CPU time of the calling thread" if args.cpu_time else "wall clock"
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {args.threads} threads, "
          f"T = {T}, median (best) of {args.repeat}, ms, {clock}")
    print(f"{'model':<28} {'ours':>12} {'transformers':>14} {'ratio':>7}")
    g = torch.Generator().manual_seed(0)
    names = args.only or ["bert", "roberta", "distilbert", "gpt2", "llama", "mistral", "qwen2", "minilm", "smollm2"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            if name in models.MODEL_NAMES:
                path = models.model_file(name)
                ours = models.load(name)
                theirs = reference_model(path, gguf=path.suffix == ".gguf")
                label = f"{name} ({ours.facts.n_layers}×{ours.facts.n_heads})"
            else:
                folder = Path(tmp) / name
                make_folder(name, folder)
                ours = models.load(str(folder))
                theirs = reference_model(folder)
                label = f"{name} ({ours.facts.n_layers}×{ours.facts.n_heads}, hidden {ours.facts.hidden})"
            offset = 2 if name == "roberta" else 0  # RoBERTa: ids other than its padding id
            ids = torch.randint(offset, min(ours.facts.vocab_size, 8000), (min(T, ours.facts.max_tokens),),
                                generator=g)
            a, b = time_both(ours, theirs, ids, args.repeat, time.thread_time if args.cpu_time else time.perf_counter)
            print(f"{label:<28} {cell(a):>12} {cell(b):>14} {statistics.median(a) / statistics.median(b):>7.2f}",
                  flush=True)
            del theirs
    print()
    print(f"{'bundled model':<14} {'load s':>7} {'peak RSS − baseline':>20} {'float32 weights':>16} {'ratio':>6}")
    for name in ("minilm", "smollm2"):
        if name not in names:
            continue
        got = memory(name, args.threads)
        weights = float32_bytes(models.load(name))
        grown = got["peak"] - got["base"]
        maps = 4 * got["layers"] * got["heads"] * got["tokens"] ** 2
        print(f"{name:<14} {got['load']:>7.2f} {grown / 2**20:>16.0f} MiB {weights / 2**20:>12.0f} MiB "
              f"{grown / (weights + maps):>6.2f}   (baseline {got['base'] / 2**20:.0f} MiB: python + torch)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
