"""Regenerate tests/fixtures/checkpoints/: tiny checkpoints of every architecture and what transformers makes of them.

Runs in a SEPARATE environment with transformers (never a dependency of attn-tui):

    python3 -m venv /tmp/refenv
    /tmp/refenv/bin/pip install torch==2.13.0 numpy transformers==5.18.0 safetensors tokenizers gguf
    PYTHONPATH=. /tmp/refenv/bin/python scripts/make_checkpoint_fixtures.py          # writes the fixtures
    PYTHONPATH=. /tmp/refenv/bin/python scripts/make_checkpoint_fixtures.py --check  # compares, writes nothing

For each architecture it trains a small tokenizer (a few hundred tokens, the kind the family uses:
WordPiece, byte-level BPE with its split regex, SentencePiece-style BPE with byte fallback), builds
the model from a config with transformers (2 layers, hidden 64, 4 heads; 2 key/value heads for
the Llama family), draws its weights with a fixed seed and a spread large enough that attention is
far from uniform (so a wrong position, mask or rope shows), saves it with `save_pretrained`
(Mistral sharded, Llama bfloat16, BERT float32, the rest float16), and records for a
few prompts transformers' token ids, tokens and eager attentions (`attn_implementation="eager"`,
`output_attentions=True`), and for decoders its greedy `generate` (16 new tokens, with each step's
attention row). It also writes the GPT-2, Llama, Mistral and Qwen2 checkpoints as GGUF files with
gguf's GGUFWriter (llama.cpp's tensor names, its Q/K row permutation for "llama", GPT-2's
transposed Conv1D weights, the vocabulary with merges or SentencePiece scores, the pre-tokenizer
name), and checks that transformers' own GGUF loader reads them back to the same tokens and
attentions (Mistral's GGUF, a "llama" with no sliding window, has its own reference from it).

Finally it runs attn_tui.models from this checkout on every checkpoint and prints the largest
difference; it exits 1 if any id differs or any attention differs by more than 1e-4.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "tests" / "fixtures" / "checkpoints"
TOLERANCE = 1e-4
HIDDEN, LAYERS, HEADS, KV_HEADS, FFN = 64, 2, 4, 2, 64

PROMPTS = (
    "The cat sat on the mat because it was tired.",
    "Hello, world! Don't panic: 3.14 × 100 🙂",
    "naïve café ☕\n\ttwo  spaces <tags>",
)
IDS_PROMPTS = (
    "In 2024, 12345 cats ran   far\n\n  7 left",
    "",
    "A lone ☕☕ and 🙂🙂🙂 emoji; digits 0123456789",
    "  leading spaces and trailing  ",
)
"""Compared for ids only (the empty prompt too: what each tokenizer adds to nothing)."""

CORPUS = """
The cat sat on the mat because it was tired. The dog sat on the log. Attention is all you need.
Hello, world! Don't panic. It's a small world after all; we're here, they'll go, I'd say, you've seen.
Transformers compute attention between every pair of tokens: queries, keys and values.
In 2024 there were 3.14 apples and 100 pears, 314 plums and 7 figs. Numbers: 0 1 2 3 4 5 6 7 8 9 10 42.
naïve café résumé ÉCOLE über straße — “quotes” ‘single’ ☕ 🙂 … <tags> & [brackets] {braces} (parens)
Tabs\tand newlines\nand  double  spaces.   Three spaces. The quick brown fox jumps over the lazy dog.
""" * 3

ARCHS = ("bert", "roberta", "distilbert", "gpt2", "llama", "mistral", "qwen2")
DTYPES = {"bert": torch.float32, "roberta": torch.float16, "distilbert": torch.float16, "gpt2": torch.float16,
          "llama": torch.bfloat16, "mistral": torch.float16, "qwen2": torch.float16}
VOCAB = 280
SPREAD = 0.12
"""Standard deviation of the random weight matrices: attention rows mostly between uniform and one-hot."""


# ── tokenizers ───────────────────────────────────────────────────────────────────────────────────


def wordpiece():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=None, clean_text=True,
                                                handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator([CORPUS], trainers.WordPieceTrainer(vocab_size=VOCAB, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok, {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                 "mask_token": "[MASK]"}


def bytelevel(kind: str):
    """Byte-level BPE: "gpt2" (GPT-2's regex), "roberta" (+ <s> </s>), "llama3" (its regex, BOS), "qwen2"."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    from attn_tui.models.tokenizer import _LLAMA3_REGEX, _QWEN2_REGEX

    tok = Tokenizer(models.BPE(ignore_merges=kind == "llama3"))
    if kind in ("gpt2", "roberta"):
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        regex = _LLAMA3_REGEX if kind == "llama3" else _QWEN2_REGEX
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    tok.decoder = decoders.ByteLevel()
    specials = {"gpt2": ["<|endoftext|>"], "roberta": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                "llama3": ["<|begin_of_text|>", "<|end_of_text|>"],
                "qwen2": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]}[kind]
    trainer = trainers.BpeTrainer(vocab_size=VOCAB + 40, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([CORPUS], trainer)
    extra: dict = {}
    if kind == "roberta":
        tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), add_prefix_space=False)
        extra = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                 "mask_token": "<mask>", "sep_token": "</s>", "cls_token": "<s>"}
    elif kind == "llama3":
        bos = tok.token_to_id("<|begin_of_text|>")
        tok.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                                           pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
                                                           special_tokens=[("<|begin_of_text|>", bos)])
        extra = {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"}
    elif kind == "gpt2":
        extra = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
    else:
        extra = {"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    return tok, extra


def sentencepiece_bpe():
    """Llama-2 / Mistral style: Metaspace, BPE with byte fallback (<0x00>…<0xFF>), <s> added first."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    # Trained on words (split), used as SentencePiece does (no split: a space is an ordinary "▁" piece).
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    tok.normalizer = None
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(content=" ", left=1, right=0)])
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=VOCAB + 256 - 120, special_tokens=["<unk>", "<s>", "</s>", *byte_tokens],
                                  show_progress=False, limit_alphabet=80)
    tok.train_from_iterator([CORPUS], trainer)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    # The byte tokens are ordinary vocabulary (byte fallback looks them up), not added tokens, as in
    # Llama 2's and Mistral's tokenizer.json; the trainer made them added tokens: undo that.
    spec = json.loads(tok.to_str())
    spec["added_tokens"] = [a for a in spec["added_tokens"] if a["content"] in ("<unk>", "<s>", "</s>")]
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.add_special_tokens([AddedToken("<unk>", special=True), AddedToken("<s>", special=True),
                            AddedToken("</s>", special=True)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s>:1 $B:1",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return tok, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}


def tokenizer_for(arch: str):
    if arch in ("bert", "distilbert"):
        return wordpiece()
    if arch == "mistral":
        return sentencepiece_bpe()
    return bytelevel({"gpt2": "gpt2", "roberta": "roberta", "llama": "llama3", "qwen2": "qwen2"}[arch])


# ── models ───────────────────────────────────────────────────────────────────────────────────────


def config_for(arch: str, vocab: int, tok):
    import transformers as tf

    common = {"vocab_size": vocab}
    if arch == "bert":
        return tf.BertConfig(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                             intermediate_size=FFN, max_position_embeddings=64, **common)
    if arch == "roberta":
        return tf.RobertaConfig(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                intermediate_size=FFN, max_position_embeddings=66, pad_token_id=1, bos_token_id=0,
                                eos_token_id=2, type_vocab_size=1, **common)
    if arch == "distilbert":
        return tf.DistilBertConfig(dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS, hidden_dim=FFN,
                                   max_position_embeddings=64, **common)
    if arch == "gpt2":
        # n_inner left at GPT-2's 4 × n_embd: transformers' GGUF loader assumes it (it reads no
        # feed_forward_length for gpt2), and its reading of the GGUF is a check here.
        return tf.GPT2Config(n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_positions=64,
                             bos_token_id=0, eos_token_id=0, **common)
    llama_like = {"hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
                  "num_key_value_heads": KV_HEADS, "intermediate_size": FFN, "max_position_embeddings": 128,
                  "rms_norm_eps": 1e-5, **common}
    if arch == "llama":
        return tf.LlamaConfig(**llama_like, tie_word_embeddings=True,
                              bos_token_id=tok.token_to_id("<|begin_of_text|>"),
                              eos_token_id=tok.token_to_id("<|end_of_text|>"),
                              rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                               "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                               "original_max_position_embeddings": 16})
    if arch == "mistral":
        # A sliding window shorter than the longer prompts, so that the window's mask is exercised.
        return tf.MistralConfig(**llama_like, sliding_window=12, tie_word_embeddings=False, bos_token_id=1,
                                eos_token_id=2, head_dim=HIDDEN // HEADS,
                                rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    if arch == "qwen2":
        return tf.Qwen2Config(**llama_like, tie_word_embeddings=True, eos_token_id=tok.token_to_id("<|endoftext|>"),
                              rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
    raise ValueError(arch)


def randomise(model, seed: int) -> None:
    """Weights spread wide enough that attention is sharp (init's 0.02 gives nearly uniform rows)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if p.ndim == 1 and ("norm" in name.lower() or "ln" in name):
                if name.endswith("bias"):
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1)
                else:
                    p.copy_(1 + torch.randn(p.shape, generator=g) * 0.2)
            elif p.ndim == 1:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * SPREAD)


def make(arch: str, folder: Path):
    import transformers as tf

    tok, special = tokenizer_for(arch)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    config = config_for(arch, vocab, tok)
    classes = {"bert": tf.BertModel, "roberta": tf.RobertaModel, "distilbert": tf.DistilBertModel,
               "gpt2": tf.GPT2LMHeadModel, "llama": tf.LlamaForCausalLM, "mistral": tf.MistralForCausalLM,
               "qwen2": tf.Qwen2ForCausalLM}
    torch.manual_seed(0)
    model = classes[arch](config)
    randomise(model, seed=ARCHS.index(arch) + 1)
    model = model.to(DTYPES[arch])
    if folder.exists():
        shutil.rmtree(folder)
    shard = "40KB" if arch == "mistral" else "100MB"
    model.save_pretrained(folder, max_shard_size=shard)
    fast = tf.PreTrainedTokenizerFast(tokenizer_object=tok, **special)
    fast.save_pretrained(folder)
    for junk in ("generation_config.json", "chat_template.jinja"):
        (folder / junk).unlink(missing_ok=True)
    return folder


def gguf_reference(folder: Path, gguf_path: Path) -> dict:
    """transformers reading the GGUF (weights and tokenizer), run on the ids of the folder's tokenizer.

    For Mistral's GGUF, whose reference must come from the file (llama.cpp's "llama" has no sliding
    window). transformers' GGUF tokenizer leaves out the BOS the file asks for (add_bos_token, which
    llama.cpp follows); the ids are checked equal apart from it, and the folder's (with BOS) are run.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder_tok = AutoTokenizer.from_pretrained(folder)
    gguf_tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name,
                                                 attn_implementation="eager", dtype=torch.float32).eval()
    records, ids_only = [], []
    for prompt in PROMPTS:
        ids = folder_tok(prompt)["input_ids"]
        assert gguf_tok(prompt)["input_ids"] == ids[1:] and ids[0] == folder_tok.bos_token_id, prompt
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([ids]), output_attentions=True)
        records.append({"prompt": prompt, "ids": ids, "tokens": folder_tok.convert_ids_to_tokens(ids),
                        "attentions": torch.stack([a[0] for a in out.attentions]).float().clone(),
                        "logits_last": out.logits[0, -1].float().clone()})
    for prompt in IDS_PROMPTS:
        ids = folder_tok(prompt)["input_ids"]
        assert gguf_tok(prompt)["input_ids"] == ids[1:], prompt
        ids_only.append({"prompt": prompt, "ids": ids})
    return {"arch": "llama", "prompts": records, "ids_only": ids_only}


def reference(folder: Path, arch: str, gguf_file: str | None = None) -> dict:
    """transformers' ids, tokens, attentions (and greedy generation for decoders) for the prompts.

    With `gguf_file`, transformers' own GGUF loader reads the file (tokenizer and weights); no generation.
    """
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    extra = {"gguf_file": gguf_file} if gguf_file else {}
    tok = AutoTokenizer.from_pretrained(folder, **extra)
    decoder = arch in ("gpt2", "llama", "mistral", "qwen2")
    cls = AutoModelForCausalLM if decoder else AutoModel
    model = cls.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32, **extra).eval()
    if gguf_file:
        decoder = False  # logits and generation are checked on the folders
    records = []
    for n, prompt in enumerate(PROMPTS):
        ids = tok(prompt, return_tensors="pt")["input_ids"]  # (1, T)
        with torch.inference_mode():
            out = model(input_ids=ids, output_attentions=True, output_hidden_states=True)
        record = {
            "prompt": prompt,
            "ids": ids[0].tolist(),
            "tokens": tok.convert_ids_to_tokens(ids[0].tolist()),
            "attentions": torch.stack([a[0] for a in out.attentions]).float().clone(),  # (L, H, T, T)
        }
        if arch in ("gpt2", "llama", "mistral", "qwen2"):
            record["logits_last"] = out.logits[0, -1].float().clone()  # (vocab,)
        if decoder and n == 0:  # one prompt's generation: 16 steps of attention rows are many small tensors
            record["logits_last"] = out.logits[0, -1].float().clone()  # (vocab,)
            with torch.inference_mode():
                # attention_mask given: without one, generate masks every token equal to the pad id
                # (0 here, which is Llama's BOS).
                gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=16,
                                     min_new_tokens=16, do_sample=False,
                                     output_attentions=True, return_dict_in_generate=True,
                                     pad_token_id=tok.pad_token_id or 0)
            record["generated_ids"] = gen.sequences[0, ids.shape[1]:].tolist()
            # Step s ≥ 1 attends from the one new token to every earlier one: (L, H, T + s), or to the
            # last `sliding_window` keys only where the cache keeps only those (Mistral).
            record["generated_attentions"] = [torch.stack([a[0, :, -1] for a in step]).float().clone()
                                              for step in gen.attentions[1:]]
        records.append(record)
    ids_only = [{"prompt": p, "ids": tok(p)["input_ids"]} for p in IDS_PROMPTS]
    return {"arch": arch, "prompts": records, "ids_only": ids_only}


# ── GGUF ─────────────────────────────────────────────────────────────────────────────────────────


def llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """convert_hf_to_gguf.py's LlamaModel.permute: half-split rope rows → interleaved pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_factors(config) -> np.ndarray:
    """convert_hf_to_gguf.py's rope_freqs for rope_type llama3 (llama.cpp divides each frequency by it)."""
    rope = config.rope_parameters
    base, dim = rope["rope_theta"], config.hidden_size // config.num_attention_heads
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old = rope["original_max_position_embeddings"]
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    low_wavelen, high_wavelen = old / low, old / high
    factors = []
    for freq in freqs.tolist():
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def write_gguf(folder: Path, arch: str, path: Path) -> None:
    """The folder's weights and tokenizer as llama.cpp's convert_hf_to_gguf.py would write them (Mistral as "llama")."""
    import gguf
    from safetensors.torch import load_file
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(folder)
    weights = {}
    for file in sorted(folder.glob("*.safetensors")):
        weights |= load_file(file)
    spec = json.loads((folder / "tokenizer.json").read_text())
    gguf_arch = "qwen2" if arch == "qwen2" else "llama"
    writer = gguf.GGUFWriter(path, gguf_arch)
    writer.add_name(f"tiny-{arch}")
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(config.rope_parameters["rope_theta"])
    writer.add_vocab_size(config.vocab_size)
    stored = weights["model.embed_tokens.weight"].dtype
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_BF16 if stored == torch.bfloat16 else gguf.LlamaFileType.MOSTLY_F16)
    # The vocabulary: tokens in id order, their types (3 = control for special added tokens), merges.
    vocab = spec["model"]["vocab"]
    added = {a["id"]: a for a in spec["added_tokens"]}
    tokens = [None] * config.vocab_size
    for t, i in vocab.items():
        tokens[i] = t
    for i, a in added.items():
        tokens[i] = a["content"]
    types = [3 if i in added and added[i]["special"] else 1 for i in range(len(tokens))]
    merges = [" ".join(m) if isinstance(m, list) else m for m in spec["model"]["merges"]]
    if spec["model"].get("byte_fallback"):
        # SentencePiece, as llama.cpp stores it: scores (no merges), byte tokens typed 6, <unk> typed 2.
        # A token made by the merge of rank r scores −r, so the merges rebuilt from scores come in the
        # trained order.
        rank = {left + right: r for r, (left, right) in enumerate(m.split(" ", 1) for m in merges)}
        scores = [float(-rank[t]) if t in rank else -1e9 for t in tokens]
        types = [6 if t.startswith("<0x") and len(t) == 6 else 2 if t == "<unk>" else ty
                 for t, ty in zip(tokens, types, strict=True)]
        writer.add_tokenizer_model("llama")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        writer.add_unk_token_id(tokens.index("<unk>"))
        writer.add_add_space_prefix(True)
    else:
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("llama-bpe" if arch == "llama" else "qwen2")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges(merges)
    if arch in ("llama", "mistral"):
        writer.add_bos_token_id(config.bos_token_id)
        writer.add_add_bos_token(True)
    else:
        writer.add_add_bos_token(False)
    writer.add_eos_token_id(config.eos_token_id)

    def put(name: str, tensor: torch.Tensor, permute_heads: int | None = None) -> None:
        if tensor.dtype == torch.bfloat16:
            raw = tensor.view(torch.int16).numpy()
            if permute_heads:
                raw = llama_cpp_permute(raw, permute_heads)
            writer.add_tensor(name, np.ascontiguousarray(raw).view(np.uint8).reshape(*raw.shape[:-1], -1),
                              raw_dtype=gguf.GGMLQuantizationType.BF16)
        else:
            arr = tensor.numpy()
            if permute_heads:
                arr = llama_cpp_permute(arr, permute_heads)
            kind = gguf.GGMLQuantizationType.F16 if arr.dtype == np.float16 else gguf.GGMLQuantizationType.F32
            writer.add_tensor(name, np.ascontiguousarray(arr), raw_dtype=kind)

    put("token_embd.weight", weights["model.embed_tokens.weight"])
    put("output_norm.weight", weights["model.norm.weight"].float())  # norms in F32, as llama.cpp writes them
    if "lm_head.weight" in weights:
        put("output.weight", weights["lm_head.weight"])
    if config.rope_parameters.get("rope_type") == "llama3":
        writer.add_tensor("rope_freqs.weight", llama3_rope_factors(config))
    heads, kv = config.num_attention_heads, config.num_key_value_heads
    perm = gguf_arch == "llama"
    for i in range(config.num_hidden_layers):
        p = f"model.layers.{i}."
        put(f"blk.{i}.attn_norm.weight", weights[p + "input_layernorm.weight"].float())
        put(f"blk.{i}.attn_q.weight", weights[p + "self_attn.q_proj.weight"], heads if perm else None)
        put(f"blk.{i}.attn_k.weight", weights[p + "self_attn.k_proj.weight"], kv if perm else None)
        put(f"blk.{i}.attn_v.weight", weights[p + "self_attn.v_proj.weight"])
        if arch == "qwen2":
            for x in "qkv":
                put(f"blk.{i}.attn_{x}.bias", weights[p + f"self_attn.{x}_proj.bias"].float())
        put(f"blk.{i}.attn_output.weight", weights[p + "self_attn.o_proj.weight"])
        put(f"blk.{i}.ffn_norm.weight", weights[p + "post_attention_layernorm.weight"].float())
        put(f"blk.{i}.ffn_gate.weight", weights[p + "mlp.gate_proj.weight"])
        put(f"blk.{i}.ffn_up.weight", weights[p + "mlp.up_proj.weight"])
        put(f"blk.{i}.ffn_down.weight", weights[p + "mlp.down_proj.weight"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_gpt2_gguf(folder: Path, path: Path) -> None:
    """GPT-2 as llama.cpp's converter writes it: its Conv1D weights transposed to (out, in), norms in F32."""
    import gguf
    from safetensors.torch import load_file
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(folder)
    weights = load_file(folder / "model.safetensors")
    p = "transformer." if "transformer.wte.weight" in weights else ""
    spec = json.loads((folder / "tokenizer.json").read_text())
    writer = gguf.GGUFWriter(path, "gpt2")
    writer.add_name("tiny-gpt2")
    writer.add_block_count(config.n_layer)
    writer.add_context_length(config.n_positions)
    writer.add_embedding_length(config.n_embd)
    writer.add_feed_forward_length(config.n_inner or 4 * config.n_embd)
    writer.add_head_count(config.n_head)
    writer.add_layer_norm_eps(config.layer_norm_epsilon)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    vocab = spec["model"]["vocab"]
    added = {a["id"]: a for a in spec["added_tokens"]}
    tokens = [None] * config.vocab_size
    for t, i in vocab.items():
        tokens[i] = t
    for i, a in added.items():
        tokens[i] = a["content"]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if i in added and added[i]["special"] else 1 for i in range(len(tokens))])
    writer.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in spec["model"]["merges"]])
    writer.add_bos_token_id(config.bos_token_id)
    writer.add_eos_token_id(config.eos_token_id)
    writer.add_add_bos_token(False)

    def put(name: str, tensor: torch.Tensor, transpose: bool = False) -> None:
        arr = (tensor.T if transpose else tensor).contiguous().numpy()
        kind = gguf.GGMLQuantizationType.F16 if arr.dtype == np.float16 else gguf.GGMLQuantizationType.F32
        writer.add_tensor(name, arr, raw_dtype=kind)

    put("token_embd.weight", weights[p + "wte.weight"])
    put("position_embd.weight", weights[p + "wpe.weight"])
    put("output_norm.weight", weights[p + "ln_f.weight"].float())
    put("output_norm.bias", weights[p + "ln_f.bias"].float())
    for i in range(config.n_layer):
        h = f"{p}h.{i}."
        for ours, theirs, transpose in (("attn_norm", "ln_1", False), ("attn_qkv", "attn.c_attn", True),
                                        ("attn_output", "attn.c_proj", True), ("ffn_norm", "ln_2", False),
                                        ("ffn_up", "mlp.c_fc", True), ("ffn_down", "mlp.c_proj", True)):
            norm = not transpose
            put(f"blk.{i}.{ours}.weight", weights[h + theirs + ".weight"].float() if norm else
                weights[h + theirs + ".weight"], transpose)
            put(f"blk.{i}.{ours}.bias", weights[h + theirs + ".bias"].float())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# ── ours against transformers ────────────────────────────────────────────────────────────────────


def compare(path: Path, data: dict) -> bool:
    import attn_tui.models as models

    model = models.load(str(path))
    ok, worst = True, 0.0
    for record in data["prompts"]:
        result = model.run(record["prompt"])
        same = list(result.token_ids) == record["ids"]
        diff = (result.attentions - record["attentions"]).abs().max().item() if same else math.inf
        worst = max(worst, diff)
        ok &= same and diff <= TOLERANCE
        if not same:
            print(f"  {record['prompt']!r}: ids differ\n    transformers {record['ids']}\n    "
                  f"ours         {list(result.token_ids)}")
    for record in data["ids_only"]:
        if not record["prompt"]:
            continue
        same = list(model.tokenize(record["prompt"]).ids) == record["ids"]
        ok &= same
        if not same:
            print(f"  {record['prompt']!r}: ids differ\n    transformers {record['ids']}\n    "
                  f"ours         {list(model.tokenize(record['prompt']).ids)}")
    sharp = torch.cat([r["attentions"].max(-1).values.flatten() for r in data["prompts"]])
    print(f"{path.name}: {model.facts.architecture} {model.facts.dtype}, max |Δ attention| {worst:.3g}, "
          f"rows' largest weight: mean {sharp.mean():.2f}, {(sharp > 0.99).float().mean():.0%} above 0.99"
          f" {'ok' if ok else 'FAILED'}")
    return ok


# ── SmolLM2's greedy generation (issue 16) ───────────────────────────────────────────────────────

GENERATION_OUT = ROOT / "tests" / "fixtures" / "models" / "smollm2_generate.pt"
GENERATION_PROMPTS = (
    "The capital of France is",
    "Mr and Mrs Dursley, of number four, Privet Drive, were proud to say that they were perfectly normal. "
    "Mr and Mrs",
)
"""A fact to recall, and a name to copy from earlier in the prompt (what induction heads do)."""
GENERATION_LAYERS = (0, 14, 29)
"""Layers whose per-step attention rows are stored (all heads): every layer would be 1 MB."""


def smollm2_generation(check: bool) -> bool:
    """transformers' greedy generate on the bundled SmolLM2 GGUF (its own loader): 16 tokens for each prompt,
    with each step's attention row for a few layers; then attn-tui's Model.generate on the same ids."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import attn_tui.models as models

    path = models.model_file("smollm2")
    assert path is not None, "SmolLM2's package is not installed here"
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, attn_implementation="eager",
                                                 dtype=torch.float32).eval()
    ours = models.load("smollm2")
    records, ok = [], True
    for prompt in GENERATION_PROMPTS:
        ids = tok(prompt, return_tensors="pt")["input_ids"]  # (1, T)
        same_ids = list(ours.tokenize(prompt).ids) == ids[0].tolist()
        with torch.inference_mode():
            gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=16, min_new_tokens=16,
                                 do_sample=False, output_attentions=True, return_dict_in_generate=True,
                                 pad_token_id=tok.pad_token_id or 0)
        generated = gen.sequences[0, ids.shape[1]:].tolist()
        rows = [torch.stack([step[layer][0, :, -1] for layer in GENERATION_LAYERS]).float().clone()
                for step in gen.attentions[1:]]  # each (layers, H, T + s)
        records.append({"prompt": prompt, "ids": ids[0].tolist(), "generated_ids": generated,
                        "text": tok.decode(generated), "layers": GENERATION_LAYERS, "step_attentions": rows})
        mine = ours.generate(prompt, 16)
        worst = max((mine.attentions[list(GENERATION_LAYERS), :, ids.shape[1] + s - 1, : ids.shape[1] + s] - row)
                    .abs().max().item() for s, row in enumerate(rows, start=1))
        same = same_ids and list(mine.token_ids[ids.shape[1]:]) == generated
        ok &= same and worst <= TOLERANCE
        print(f"smollm2 {prompt[:30]!r}…: {tok.decode(generated)!r}; attn-tui's tokens "
              f"{'equal' if same else 'DIFFER'}, max |Δ step rows| {worst:.3g}")
    if not check:
        import transformers

        torch.save({"transformers": transformers.__version__, "prompts": records}, GENERATION_OUT)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; write nothing")
    parser.add_argument("--smollm2-generation", action="store_true",
                        help=f"only SmolLM2's greedy generation ({GENERATION_OUT.relative_to(ROOT)})")
    args = parser.parse_args()
    torch.set_num_threads(2)
    import transformers

    if args.smollm2_generation:
        ok = smollm2_generation(args.check)
        print("OK" if ok else "FAILED")
        return 0 if ok else 1

    ok = True
    for arch in ARCHS:
        folder = OUT / arch
        if not args.check:
            make(arch, folder)
        data = reference(folder, arch)
        data["transformers"] = transformers.__version__
        if not args.check:
            torch.save(data, OUT / f"{arch}.pt")
        ok &= compare(folder, data)
        if arch in ("llama", "qwen2", "mistral", "gpt2"):
            gguf_path = OUT / f"{arch}.gguf"
            if not args.check:
                (write_gpt2_gguf(folder, gguf_path) if arch == "gpt2" else write_gguf(folder, arch, gguf_path))
            if arch == "mistral":
                # llama.cpp has no sliding window for "llama": the GGUF's own reference is transformers
                # reading the GGUF (a Llama, full causal attention).
                theirs = gguf_reference(folder, gguf_path)
                print(f"{gguf_path.name}: transformers-from-GGUF ids equal the folder's, apart from the BOS")
                theirs["transformers"] = transformers.__version__
                if not args.check:
                    torch.save(theirs, OUT / "mistral.gguf.pt")
                ok &= compare(gguf_path, theirs)
                continue
            theirs = reference(OUT, arch, gguf_file=gguf_path.name)  # transformers' own GGUF loader
            same = [a["ids"] == b["ids"] for a, b in zip(theirs["prompts"], data["prompts"], strict=True)]
            print(f"{gguf_path.name}: transformers-from-GGUF ids equal the folder's: {same}")
            if not all(same):
                # transformers' GGUF loader ignores tokenizer.ggml.add_bos_token (llama.cpp and the
                # folder's tokenizer.json add the BOS): the same ids once it is set aside.
                bos = data["prompts"][0]["ids"][0]
                same = [a["ids"] == b["ids"][1:] and b["ids"][0] == bos
                        for a, b in zip(theirs["prompts"], data["prompts"], strict=True)]
                print(f"{gguf_path.name}: … without the BOS transformers-from-GGUF leaves out: {same}")
                ok &= all(same)
            else:
                worst = max((a["attentions"] - b["attentions"]).abs().max().item()
                            for a, b in zip(theirs["prompts"], data["prompts"], strict=True))
                print(f"{gguf_path.name}: transformers-from-GGUF attentions vs the folder's: max |Δ| {worst:.3g}")
                ok &= worst <= TOLERANCE
            ok &= compare(gguf_path, data)
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"fixtures: {total:,} bytes in {OUT.relative_to(ROOT)}")
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
