"""Generation step by step (issue 16): greedy tokens against transformers, the cached rows against a full
pass, cancel, progress, refusals; next-token predictions and the logit lens against a direct computation.

The fixtures (tests/fixtures/checkpoints/*.pt, tests/fixtures/models/smollm2_generate.pt) hold what
transformers' greedy `generate` made (scripts/make_checkpoint_fixtures.py); no transformers here.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import attn_tui.models as models
from attn_tui.models import CannotGenerate, Generation, GenerationCancelled, GenerationTooLong, PromptTooLong
from attn_tui.models.generation import decode_pieces

FIXTURES = Path(__file__).parent / "fixtures"
CHECKPOINTS = FIXTURES / "checkpoints"
TOLERANCE = 1e-4
DECODERS = ["gpt2", "llama", "mistral", "qwen2", "gpt2.gguf", "llama.gguf", "qwen2.gguf"]
"""Every decoder fixture with transformers' generation (mistral.gguf's reference has none)."""
needs_smollm2 = pytest.mark.skipif(not models.available("smollm2"), reason="SmolLM2's package is not installed")


def reference(source: str) -> dict:
    return torch.load(CHECKPOINTS / f"{source.removesuffix('.gguf')}.pt", weights_only=True)


@pytest.fixture(scope="module")
def loaded():
    return {source: models.load(str(CHECKPOINTS / source)) for source in [*DECODERS, "bert", "distilbert"]}


@pytest.fixture(scope="module")
def smollm2():
    if not models.available("smollm2"):
        pytest.skip("SmolLM2's package is not installed")
    return models.load("smollm2")


# ── the tokens: transformers' greedy generate ────────────────────────────────────────────────────


@pytest.mark.parametrize("source", DECODERS)
def test_generation_equals_transformers(loaded, source):
    model = loaded[source]
    record = reference(source)["prompts"][0]
    expected = record["generated_ids"]
    result = model.generate(record["prompt"], len(expected))
    assert isinstance(result, Generation) and isinstance(result, models.ModelResult)
    T0 = len(record["ids"])
    assert list(result.token_ids[:T0]) == record["ids"]
    assert list(result.token_ids[T0:]) == expected
    assert result.generated == (False,) * T0 + (True,) * len(expected)
    assert (result.n_prompt, result.n_generated, result.n_tokens) == (T0, 16, T0 + 16)
    # The prompt's rows, from the prefill, are transformers' attentions of the prompt.
    assert (result.attentions[:, :, :T0, :T0] - record["attentions"]).abs().max() <= TOLERANCE
    # Each step's row, computed from the cache, is transformers' row of that step (its cache, its mask).
    for step, row in enumerate(record["generated_attentions"], start=1):
        query = T0 + step - 1  # step s reads the s-th generated token
        ours = result.attentions[:, :, query, : query + 1]  # (L, H, T0 + s)
        width = row.shape[-1]  # Mistral's cache keeps only its window's keys
        assert (ours[..., -width:] - row).abs().max() <= TOLERANCE, step
        assert (ours[..., :-width] == 0).all()


@pytest.mark.parametrize("source", DECODERS)
def test_every_cached_row_equals_a_full_pass(loaded, source):
    model = loaded[source]
    record = reference(source)["prompts"][1]  # a prompt the fixtures did not generate from
    result = model.generate(record["prompt"], 12)
    full = model.forward(torch.tensor(result.token_ids), residuals=True)
    for name in ("attentions", "queries", "keys", "values", "value_norms", "embeddings", "residuals"):
        ours, theirs = getattr(result, name), getattr(full, name)
        assert ours.shape == theirs.shape, name
        scale = max(1.0, theirs.abs().max().item())
        assert (ours - theirs).abs().max().item() <= 1e-5 * scale, name
    # Nothing above the diagonal; every row sums to 1.
    T = result.n_tokens
    assert (result.attentions.triu(1) == 0).all()
    assert torch.allclose(result.attentions.sum(-1), torch.ones(result.n_layers, result.n_heads, T), atol=1e-5)
    # The prefill is the very pass Model.run makes of the prompt: its rows are bit-identical.
    run = model.run(record["prompt"])
    T0 = run.n_tokens
    assert torch.equal(result.attentions[:, :, :T0, :T0], run.attentions)
    assert torch.equal(result.queries[:, :, :T0], run.queries) and torch.equal(result.keys[:, :, :T0], run.keys)


def test_a_sliding_window_hides_the_oldest_keys_during_generation(loaded):
    model = loaded["mistral"]  # window 12: with 20 + tokens, the window moves during generation
    result = model.generate("The cat sat on the mat because it was tired.", 16)
    window = 12
    i = torch.arange(result.n_tokens)
    hidden = (i[None, :] > i[:, None]) | (i[None, :] <= i[:, None] - window)
    assert (result.attentions[..., hidden] == 0).all()
    assert (result.attentions[..., ~hidden] > 0).all()


@needs_smollm2
def test_smollm2_generation_equals_transformers(smollm2):
    data = torch.load(FIXTURES / "models" / "smollm2_generate.pt", weights_only=True)
    assert len(data["prompts"]) == 2
    for record in data["prompts"]:
        result = smollm2.generate(record["prompt"], 16)
        T0 = len(record["ids"])
        assert list(result.token_ids[:T0]) == record["ids"]
        assert list(result.token_ids[T0:]) == record["generated_ids"], record["prompt"]
        assert result.continuation == record["text"]
        layers = list(record["layers"])
        for step, row in enumerate(record["step_attentions"], start=1):
            query = T0 + step - 1
            assert (result.attentions[layers, :, query, : query + 1] - row).abs().max() <= TOLERANCE


@needs_smollm2
def test_smollm2_generated_text_and_offsets(smollm2):
    result = smollm2.generate("The capital of France is", 4)
    assert result.continuation == " Paris.\n\n"
    assert result.text == "The capital of France is Paris.\n\n"
    assert result.tokens[result.n_prompt:] == ("▁Paris", ".", "↵", "↵")
    # Generated tokens' spans index the text (prompt + continuation), as the prompt's index the prompt.
    spans = result.offsets[result.n_prompt:]
    assert [result.text[s:e] for s, e in spans] == [" Paris", ".", "\n", "\n"]
    assert result.special == (True, False, False, False, False, False, False, False, False)
    assert result.control == (False,) * 9


# ── text, ids, the result's interface ────────────────────────────────────────────────────────────


def test_ids_in_give_what_text_in_gives(loaded):
    model = loaded["llama"]
    prompt = "The cat sat on the mat because it was tired."
    from_text = model.generate(prompt, 6)
    from_ids = model.generate(list(model.tokenize(prompt).ids), 6)
    assert from_ids.token_ids == from_text.token_ids and from_ids.tokens == from_text.tokens
    assert torch.equal(from_ids.attentions, from_text.attentions)
    assert from_ids.continuation == from_text.continuation
    # Without a prompt's text, the ids are decoded: the BOS spelled as itself, then the words.
    assert from_ids.prompt == "<|begin_of_text|>" + prompt
    assert from_ids.special[:2] == (True, False) and from_ids.offsets[0] == (0, len("<|begin_of_text|>"))


def test_decode_pieces_shares_a_split_character_between_its_tokens():
    coffee = "☕".encode()  # three bytes, cut across three tokens
    text, spans = decode_pieces([b" a", coffee[:1], coffee[1:2], coffee[2:], b"!", b""], base=10)
    assert text == " a☕!"
    assert spans == [(10, 12), (12, 13), (12, 13), (12, 13), (13, 14), None]
    text, spans = decode_pieces([b"x", b"\xe2\x98"])  # a character never completed
    assert text == "x\ufffd" and spans == [(0, 1), (1, 2)]
    assert decode_pieces([]) == ("", [])


def test_a_generation_is_a_result(loaded):
    result = loaded["gpt2"].generate("The cat sat.", 3)
    T = result.n_tokens
    assert result.stage_tensor("weights", 1, 2).shape == (T, T)
    scaled = result.stage_tensor("scaled", 0, 0)
    assert torch.isinf(scaled[0, 1]) and torch.isfinite(scaled.tril()).all()
    keys = [key for key, _ in result.json_items()]
    assert keys == ["model", "tokens", "token_ids", "attentions", "generated", "continuation"]
    arrays = result.npz_arrays()
    assert arrays["generated"].tolist() == list(result.generated) and str(arrays["continuation"]) == \
        result.continuation
    assert result.summary().endswith("· 3 generated")
    assert result.residuals is not None and result.residuals.shape == (3, T, 64)


# ── progress, cancel, refusals ───────────────────────────────────────────────────────────────────


def test_progress_reports_every_step(loaded):
    calls = []
    result = loaded["qwen2"].generate("The cat sat.", 5, progress=lambda f, label: calls.append((f, label)))
    assert [f for f, _ in calls] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert calls[0][1] == f"reading the prompt ({result.n_prompt} tokens)"
    assert calls[3][1] == f"token 3 of 5: {result.tokens[result.n_prompt + 2]}"


def test_cancel_between_steps_keeps_the_steps_done(loaded):
    model = loaded["llama"]
    whole = model.generate("The cat sat on the mat.", 8)
    cancel = threading.Event()

    def progress(fraction, label):
        if fraction >= 3 / 8:
            cancel.set()

    with pytest.raises(GenerationCancelled, match="after 3 of 8 tokens") as caught:
        model.generate("The cat sat on the mat.", 8, progress=progress, cancel=cancel)
    partial = caught.value.partial
    assert isinstance(partial, Generation) and partial.n_generated == 3
    T = partial.n_tokens
    assert partial.token_ids == whole.token_ids[:T]
    assert torch.equal(partial.attentions, whole.attentions[:, :, :T, :T])
    assert partial.residuals is not None and torch.equal(partial.residuals, whole.residuals[:, :T])
    # Set before it starts: nothing runs. And the model still works afterwards (its lock was released).
    with pytest.raises(GenerationCancelled) as caught:
        model.generate("The cat sat.", 4, cancel=cancel)
    assert caught.value.partial is None
    assert model.generate("The cat sat on the mat.", 8).token_ids == whole.token_ids


@pytest.mark.parametrize("source", ["bert", "distilbert"])
def test_encoders_refuse_to_generate_or_predict(loaded, source):
    model = loaded[source]
    with pytest.raises(CannotGenerate, match="is an encoder .*cannot predict or generate"):
        model.generate("The cat sat.", 4)
    with pytest.raises(CannotGenerate, match="is an encoder"):
        model.predictions(model.run("The cat sat."), 1)


def test_refusals_are_clear(loaded):
    model = loaded["gpt2"]  # 64 positions
    prompt = "The cat sat on the mat because it was tired."
    T0 = len(model.tokenize(prompt).ids)
    with pytest.raises(GenerationTooLong, match=rf"the prompt is {T0} tokens and 60 more were asked for; .* takes "
                                                rf"at most 64 tokens \(its 64 learned positions\): ask for at most "
                                                rf"{64 - T0}$"):
        model.generate(prompt, 60)
    assert model.generate(prompt, 64 - T0).n_tokens == 64
    assert issubclass(GenerationTooLong, PromptTooLong)
    for n in (-1, 2.0, True, "3"):
        with pytest.raises(ValueError, match="whole number ≥ 0"):
            model.generate("The cat", n)
    with pytest.raises(ValueError, match="the prompt is empty"):
        model.generate("   ", 2)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        model.generate([1, 10**6], 2)
    with pytest.raises(ValueError, match="no token ids"):
        model.generate([], 2)
    empty = model.generate("The cat", 0)
    assert empty.n_generated == 0 and torch.equal(empty.attentions, model.run("The cat").attentions)


def test_a_decoder_without_a_head_refuses(tmp_path, loaded):
    import json
    import shutil

    from safetensors.torch import load_file, save_file

    folder = tmp_path / "headless"
    shutil.copytree(CHECKPOINTS / "llama", folder)
    config = json.loads((folder / "config.json").read_text())
    config["tie_word_embeddings"] = False  # and no lm_head.weight saved: a bare LlamaModel
    (folder / "config.json").write_text(json.dumps(config))
    weights = {k: v for k, v in load_file(folder / "model.safetensors").items() if k != "lm_head.weight"}
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    model = models.load(str(folder))
    with pytest.raises(CannotGenerate, match="has no language-model head"):
        model.generate("The cat", 2)


# ── next-token predictions and the logit lens ────────────────────────────────────────────────────


def direct(model, ids, position):
    """softmax(model.logits(residuals[l, position])) for every l: the lens computed the plain way."""
    residuals = model.forward(torch.tensor(ids), residuals=True).residuals  # (L + 1, T, hidden)
    return torch.stack([torch.softmax(model.logits(residuals[layer, position]), dim=-1)
                        for layer in range(residuals.shape[0])])  # (L + 1, vocab)


@pytest.mark.parametrize("source", ["gpt2", "llama", "mistral", "qwen2"])
def test_top5_and_lens_match_a_direct_computation(loaded, source):
    model = loaded[source]
    result = model.run("The cat sat on the mat because it was tired.")
    for position in (0, 4, result.n_tokens - 1):
        probs = direct(model, result.token_ids, position)
        got = model.predictions(result, position, lens=True)
        assert got.position == position and len(got.lens) == model.facts.n_layers + 1
        for layer, guesses in enumerate(got.lens):
            top = torch.topk(probs[layer], 5)
            assert [g.token_id for g in guesses] == top.indices.tolist()
            assert np.allclose([g.probability for g in guesses], top.values.tolist(), atol=1e-6)
            assert [g.rank for g in guesses] == [1, 2, 3, 4, 5]
            assert [g.token for g in guesses] == [model.tokenizer.readable_token(i) for i in top.indices.tolist()]
        assert got.lens[-1] == got.top
        assert np.allclose(got.lens_top, probs[:, got.top[0].token_id].tolist(), atol=1e-6)
        plain = model.predictions(result, position)  # the final layer alone
        assert plain.top == got.top and plain.lens is None and plain.lens_top is None
        if position + 1 < result.n_tokens:
            nxt = result.token_ids[position + 1]
            assert got.actual.token_id == nxt
            assert got.actual.probability == pytest.approx(probs[-1, nxt].item(), abs=1e-6)
            assert got.actual.rank == int((probs[-1] > probs[-1, nxt]).sum()) + 1
        else:
            assert got.actual is None


def test_predictions_read_a_generation_without_another_pass(loaded, monkeypatch):
    model = loaded["llama"]
    result = model.generate("The cat sat on the mat.", 5)
    # The greedy token after each position is the top prediction there.
    for position in range(result.n_prompt - 1, result.n_tokens - 1):
        assert model.predictions(result, position).top[0].token_id == result.token_ids[position + 1]
    passes = []
    monkeypatch.setattr(model, "forward", lambda *a, **k: passes.append(a))
    model.predictions(result, result.n_tokens - 1, lens=True)
    assert passes == []


def test_predictions_never_take_every_position_at_once(loaded, monkeypatch):
    model = loaded["qwen2"]
    result = model.run("The cat sat on the mat because it was tired.")
    rows = []
    logits = model.logits
    monkeypatch.setattr(model, "logits", lambda hidden: rows.append(tuple(hidden.shape)) or logits(hidden))
    model.predictions(result, 3, lens=True)
    model.predictions(result, 3)
    # The last layer's row alone, then the earlier layers' (the lens) in one product: the top tokens are
    # the same numbers whether the lens is on or off.
    assert rows == [(1, model.facts.hidden), (model.facts.n_layers, model.facts.hidden), (1, model.facts.hidden)]


def test_predictions_from_ids_and_their_refusals(loaded):
    model, other = loaded["gpt2"], loaded["llama"]
    ids = model.tokenize("The cat sat.").ids
    assert model.predictions(ids, 2, k=3) == model.predictions(model.run("The cat sat."), 2, k=3)
    assert len(model.predictions(ids, 2, k=1).top) == 1
    T = len(ids)
    with pytest.raises(ValueError, match=rf"position {T} is outside the sequence: 0 … {T - 1}"):
        model.predictions(ids, T)
    with pytest.raises(ValueError, match="position -1"):
        model.predictions(ids, -1)
    with pytest.raises(ValueError, match="k is 0"):
        model.predictions(ids, 1, k=0)
    with pytest.raises(ValueError, match="not from"):
        model.predictions(other.run("The cat sat."), 1)


@needs_smollm2
def test_smollm2_predictions_are_readable(smollm2):
    result = smollm2.run("The capital of France is")
    got = smollm2.predictions(result, result.n_tokens - 1, lens=True)
    assert got.top[0].token == "▁Paris" and got.top[0].probability > 0.5
    assert len(got.lens) == 31 and got.lens[-1][0].token == "▁Paris"
    assert got.lens_top[0] < 1e-6 < got.lens_top[-1]  # the embeddings know nothing of Paris; the last layer does
    assert got.rows()[0]["layer"] == 0 and len(got.rows()) == 31
