"""attn_tui's greedy generation against transformers' `generate(..., output_attentions=True)`: issue 16's target.

Runs in the reference environment (transformers is never a dependency of attn-tui):

    PYTHONPATH=. /tmp/refenv/bin/python -m benchmarks.generate [--threads 1] [--cpu-time] [--repeat 5]

Issue 16 asks that 16 tokens from a 32-token prompt take at most 2 × what transformers takes on the
same weights. For SmolLM2 (transformers reads the bundled GGUF with its own loader) and each decoder
fixture's config scaled to a realistic small model (benchmarks.checkpoints: hidden 576, 12 layers,
9 heads, 3 key/value heads for the Llama family, vocabulary 8,000), both sides start from the same
32 ids (tokenising excluded) and make 16 new tokens, alternating, after a warm-up each:

- ours: `Model.generate(ids, 16)`: a prefill, then one cached step per token; the result holds every
  layer's attention over all 48 positions, queries, keys, values, value norms and the residual
  stream (one step more than transformers: the last token's own row);
- transformers: `AutoModelForCausalLM.generate(ids, max_new_tokens=16, min_new_tokens=16,
  do_sample=False, output_attentions=True, return_dict_in_generate=True)`, eager attention, its cache.

It checks that both give the same 16 tokens, and prints "median (best)" ms and the ratio of medians.
With --cpu-time and --threads 1 the clock is the calling thread's CPU time: on a shared machine it
measures the work, not the wait for a core. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
PROMPT = ("The cat sat on the mat because it was tired. The dog sat on the log because it was cold, and the bird "
          "sat on the branch because")
"""Tokenised by SmolLM2 to at least 32 tokens; the first 32 are the prompt."""
PROMPT_TOKENS, NEW_TOKENS = 32, 16


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def reference_lm(path: Path, gguf: bool = False):
    from transformers import AutoModelForCausalLM

    if gguf:
        return AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, attn_implementation="eager",
                                                    dtype=torch.float32).eval()
    return AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager", dtype=torch.float32).eval()


def theirs_generate(model, ids: torch.Tensor) -> list[int]:
    with torch.inference_mode():
        out = model.generate(ids[None], attention_mask=torch.ones_like(ids)[None], max_new_tokens=NEW_TOKENS,
                             min_new_tokens=NEW_TOKENS, do_sample=False, output_attentions=True,
                             return_dict_in_generate=True, pad_token_id=0)
    return out.sequences[0, ids.shape[0]:].tolist()


def ours_generate(model, ids: torch.Tensor) -> list[int]:
    result = model.generate(ids.tolist(), NEW_TOKENS)
    return list(result.token_ids[ids.shape[0]:])


def time_both(ours, theirs, ids: torch.Tensor, repeat: int, clock) -> tuple[list[float], list[float], bool]:
    same = ours_generate(ours, ids) == theirs_generate(theirs, ids)  # also the warm-up
    ours_ms, theirs_ms = [], []
    for _ in range(repeat):
        start = clock()
        ours_generate(ours, ids)
        ours_ms.append((clock() - start) * 1000)
        start = clock()
        theirs_generate(theirs, ids)
        theirs_ms.append((clock() - start) * 1000)
    return ours_ms, theirs_ms, same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="smollm2 and/or architectures (gpt2, llama, mistral, qwen2)")
    parser.add_argument("--cpu-time", action="store_true", help="time with the calling thread's CPU clock")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF reader draws its own progress bar
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()

    import attn_tui.models as models
    from benchmarks.checkpoints import cell, make_folder

    clock = time.thread_time if args.cpu_time else time.perf_counter
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {args.threads} thread(s), "
          f"{PROMPT_TOKENS} prompt tokens + {NEW_TOKENS} generated, median (best) of {args.repeat}, ms, "
          f"{'CPU time of the calling thread' if args.cpu_time else 'wall clock'}; load average {load_average()}")
    print(f"{'model':<34} {'ours':>12} {'transformers':>14} {'ratio':>7}  same tokens")
    g = torch.Generator().manual_seed(0)
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or ["smollm2", "gpt2", "llama", "mistral", "qwen2"]:
            if name == "smollm2":
                ours = models.load(name)
                path = models.model_file(name)
                assert path is not None
                theirs = reference_lm(path, gguf=True)
                ids = torch.tensor(ours.tokenize(PROMPT).ids[:PROMPT_TOKENS])
                label = f"smollm2 ({ours.facts.n_layers}×{ours.facts.n_heads})"
            else:
                folder = Path(tmp) / name
                make_folder(name, folder)
                ours = models.load(str(folder))
                theirs = reference_lm(folder)
                ids = torch.randint(0, min(ours.facts.vocab_size, 8000), (PROMPT_TOKENS,), generator=g)
                label = f"{name} ({ours.facts.n_layers}×{ours.facts.n_heads}, hidden {ours.facts.hidden})"
            a, b, same = time_both(ours, theirs, ids, args.repeat, clock)
            ratio = statistics.median(a) / statistics.median(b)
            ratios.append(ratio)
            print(f"{label:<34} {cell(a):>12} {cell(b):>14} {ratio:>7.2f}  {'yes' if same else 'NO'}", flush=True)
            del theirs
    print(f"load average after: {load_average()}; worst ratio {max(ratios):.2f} (target ≤ 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
