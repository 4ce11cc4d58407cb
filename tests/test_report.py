"""The `--json` extras (issues 15 and 16): every key round-trips, its values checked against attn_tui.analysis
and against plain-loop references; the CLI's flags and refusals.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import attn_tui.models as models
from attn_tui import analysis, report
from attn_tui.attention import compute
from attn_tui.cli import main
from attn_tui.config import DEFAULTS
from attn_tui.report import Extras, Refused
from attn_tui.serialize import write_json as serialize_write_json

CHECKPOINTS = Path(__file__).parent / "fixtures" / "checkpoints"
PROMPT = "The cat sat on the mat because it was tired."
TOY = DEFAULTS.replace(heads=2, causal=True)
needs_smollm2 = pytest.mark.skipif(not models.available("smollm2"), reason="SmolLM2's package is not installed")


def as_json(built: report.Report) -> dict:
    out = io.StringIO()
    report.write_json(built.json_items(), out)
    return json.loads(out.getvalue())


def close(data, tensor, atol=1e-6) -> bool:
    """JSON lists against a tensor: float32 values written at full precision read back exactly."""
    return np.allclose(np.asarray(data, dtype=np.float64), tensor.double().numpy(), atol=atol, rtol=0)


# ── plain-loop references ────────────────────────────────────────────────────────────────────────


def rollout_loops(weights: torch.Tensor) -> list[list[list[float]]]:
    """Abnar & Zuidema's rollout with lists: Ā = ½ mean_h A + ½ I, rows renormalised, R_l = Ā_l R_{l−1}."""
    L, H, T, _ = weights.shape
    a = weights.tolist()
    current = [[1.0 if i == j else 0.0 for j in range(T)] for i in range(T)]
    out = []
    for layer in range(L):
        mixed = [[0.5 * sum(a[layer][h][i][j] for h in range(H)) / H + (0.5 if i == j else 0.0) for j in range(T)]
                 for i in range(T)]
        mixed = [[x / sum(row) for x in row] for row in mixed]
        current = [[sum(mixed[i][m] * current[m][j] for m in range(T)) for j in range(T)] for i in range(T)]
        out.append(current)
    return out


def value_weighted_loops(weights: torch.Tensor, norms: list[list[list[float]]]) -> list:
    """α_ij · ‖f_h(x_j)‖ cell by cell."""
    L, H, T, _ = weights.shape
    a = weights.tolist()
    return [[[[a[layer][h][i][j] * norms[layer][h][j] for j in range(T)] for i in range(T)] for h in range(H)]
            for layer in range(L)]


def model_value_norms_loops(model, result) -> list[list[list[float]]]:
    """‖v_j^h W_O^h‖ through the output projection itself: head h's value in its slot, zeros elsewhere."""
    L, H, T, d = result.values.shape
    out = []
    for layer in range(L):
        wo = model.layers[layer]["wo"]  # (hidden, H·d), as F.linear takes it
        per_head = []
        for h in range(H):
            norms = []
            for j in range(T):
                slot = torch.zeros(H * d)
                slot[h * d:(h + 1) * d] = result.values[layer, h, j]
                norms.append(float(torch.nn.functional.linear(slot, wo).norm()))
            per_head.append(norms)
        out.append(per_head)
    return out


def toy_value_norms_loops(result) -> list[list[list[float]]]:
    """‖v_j^h‖: head h's slice of V, token by token (the toy has no W_O)."""
    width = result.config.d_v // result.config.heads
    v = result.value.tolist()
    return [[[math.sqrt(sum(x * x for x in v[j][h * width:(h + 1) * width])) for j in range(len(v))]
              for h in range(result.config.heads)]]


def merge_loops(weights: torch.Tensor, groups) -> list:
    a = weights.tolist()
    L, H = weights.shape[:2]
    return [[[[sum(sum(a[layer][h][i][j] for j in w.positions) for i in u.positions) / len(u.positions)
               for w in groups] for u in groups] for h in range(H)] for layer in range(L)]


# ── the toy ──────────────────────────────────────────────────────────────────────────────────────


def test_toy_every_extra_round_trips():
    b_prompt = "Hello World I am an attention seeker I love you"  # as many words as the default prompt
    extras = Extras(head_stats=True, induction_test=6, induction_seed=3, compare=b_prompt, value_weighted=True,
                    rollout=True, words=True)
    data = as_json(report.build(TOY, "toy", extras))
    a, b = compute(TOY), compute(TOY.replace(prompt=b_prompt))
    assert list(data)[:16] == [key for key, _ in a.json_items()]
    assert list(data)[16:] == ["head_stats", "induction_test", "compare", "value_weighted", "rollout", "word_level"]
    # head_stats: analysis' rows, Δ vs B filled (same token count), layer and head from 1.
    stats = analysis.head_stats(a.all_weights(), a.token_ids, compare=b.all_weights())
    assert data["head_stats"] == stats.rows()
    assert [(r["layer"], r["head"]) for r in data["head_stats"]] == [(1, 1), (1, 2)]
    assert all(r["delta"] is not None for r in data["head_stats"])
    # compare: B's tokens, ids, attentions.
    assert data["compare"]["tokens"] == list(b.tokens) and data["compare"]["token_ids"] == list(b.token_ids)
    assert close(data["compare"]["attentions"], b.all_weights(), 0)
    # value-weighted and rollout, against loops.
    assert close(data["value_weighted"], torch.tensor(value_weighted_loops(a.all_weights(),
                                                                           toy_value_norms_loops(a))), 1e-5)
    assert close(data["rollout"], torch.tensor(rollout_loops(a.all_weights())), 1e-6)
    # words: the toy's tokens are words, one group each, the weights unchanged.
    groups = data["word_level"]["groups"]
    assert [g["label"] for g in groups] == list(a.words) and all(g["kind"] == "word" for g in groups)
    assert groups[1] == {"label": "World", "kind": "word", "positions": [1], "span": [6, 11], "text": "World"}
    assert close(data["word_level"]["attentions"], a.all_weights(), 1e-6)
    # induction test: N random ids twice, scored from the repeat.
    test = data["induction_test"]
    assert (test["n"], test["seed"], test["offset"]) == (6, 3, 0)
    assert test["ids"] == analysis.induction_sequence(6, TOY.vocab_size, seed=3)
    scores = analysis.induction_scores(report.toy_weights(TOY, test["ids"]), 6)
    assert [r["score"] for r in test["scores"]] == pytest.approx(scores.ravel().tolist())
    assert test["uniform"] == pytest.approx(analysis.uniform_induction_score(6, causal=True))


def test_toy_weights_for_ids_are_the_pipeline_s():
    for config in (TOY, DEFAULTS, DEFAULTS.replace(heads=4, temperature=0.5, prompt="a b a c b a d")):
        result = compute(config)
        assert torch.equal(report.toy_weights(config, result.token_ids), result.all_weights())


def test_toy_compare_of_another_length_leaves_delta_blank():
    data = as_json(report.build(TOY, "toy", Extras(head_stats=True, compare="only three words")))
    assert all(row["delta"] is None for row in data["head_stats"])
    assert len(data["compare"]["tokens"]) == 3


def test_toy_refusals_name_the_flag():
    with pytest.raises(Refused, match="^--generate: the toy pipeline has no language-model head"):
        report.build(TOY, "toy", Extras(generate=4))
    with pytest.raises(Refused, match="^--compare: the comparison prompt is empty"):
        report.build(TOY, "toy", Extras(compare="  "))
    with pytest.raises(Refused, match="^--compare: "):
        report.build(TOY, "toy", Extras(compare="x " * 5000))
    with pytest.raises(Refused, match="^--induction-test: 60 distinct ids wanted, the toy's vocabulary has 50"):
        report.build(TOY.replace(vocab_size=50, prompt="a b"), "toy", Extras(induction_test=60))


# ── models (the decoder and encoder fixtures) ────────────────────────────────────────────────────


@pytest.mark.parametrize("source", ["llama", "gpt2", "bert"])
def test_model_value_weighted_rollout_words_against_loops(source):
    path = str(CHECKPOINTS / source)
    model = models.load(path)
    data = as_json(report.build(DEFAULTS.replace(prompt=PROMPT), path,
                                Extras(value_weighted=True, rollout=True, words=True)))
    result = model.run(PROMPT)
    assert list(data)[:4] == ["model", "tokens", "token_ids", "attentions"]
    norms = model_value_norms_loops(model, result)
    assert close(data["value_weighted"], torch.tensor(value_weighted_loops(result.attentions, norms)), 1e-4)
    assert close(data["rollout"], torch.tensor(rollout_loops(result.attentions)), 1e-6)
    groups = analysis.word_spans(result.offsets, PROMPT, special=result.control)
    assert [g["positions"] for g in data["word_level"]["groups"]] == [list(g.positions) for g in groups]
    words = [g["label"] for g in data["word_level"]["groups"] if g["kind"] == "word"]
    assert words == PROMPT.split()
    assert close(data["word_level"]["attentions"], torch.tensor(merge_loops(result.attentions, groups)), 1e-6)


@pytest.mark.parametrize("source", ["llama", "gpt2", "bert"])
def test_model_induction_test(source):
    path = str(CHECKPOINTS / source)
    model = models.load(path)
    test = report.induction_test(model, 20, seed=1)
    ids = list(test.ids)
    frame = model.tokenize("a")
    added_front = {"llama": 1, "gpt2": 0, "bert": 1}[source]  # a BOS, nothing, [CLS] (and [SEP] at the end)
    assert test.offset == added_front and ids[:added_front] == list(frame.ids[:added_front])
    half = ids[added_front:added_front + 20]
    assert ids[added_front + 20:added_front + 40] == half and len(set(half)) == 20
    assert not set(half) & (model.tokenizer.added_ids | model.tokenizer.special_ids)
    assert len(ids) == added_front + 40 + (1 if source == "bert" else 0)
    weights = model.forward(torch.tensor(ids)).attentions
    L, H = weights.shape[:2]
    for layer in range(L):
        for head in range(H):
            expected = sum(weights[layer, head, added_front + 20 + k, added_front + k + 1].item()
                           for k in range(20)) / 20
            assert test.scores[layer, head] == pytest.approx(expected, abs=1e-6)
    if source == "bert":
        assert test.uniform == pytest.approx(1 / len(ids))
    else:
        assert test.uniform == pytest.approx(analysis.uniform_induction_score(20, offset=added_front))
    assert report.induction_test(model, 20, seed=1).ids == test.ids  # the seed alone decides
    with pytest.raises(Refused, match="--induction-test: .* at most N = "):
        report.induction_test(model, 1000)


def test_model_generation_with_every_extra():
    path = str(CHECKPOINTS / "qwen2")
    model = models.load(path)
    config = DEFAULTS.replace(prompt=PROMPT)
    extras = Extras(generate=5, head_stats=True, compare="The dog sat on the log because it was cold.",
                    value_weighted=True, rollout=True, words=True)
    data = as_json(report.build(config, path, extras))
    a = model.generate(PROMPT, 5)
    b = model.generate(extras.compare, 5)
    assert data["token_ids"] == list(a.token_ids) and data["generated"] == list(a.generated)
    assert data["continuation"] == a.continuation and sum(data["generated"]) == 5
    assert close(data["attentions"], a.attentions, 0)
    assert data["compare"]["generated"] == list(b.generated) and data["compare"]["token_ids"] == list(b.token_ids)
    stats = analysis.head_stats(a.attentions, a.token_ids, compare=b.attentions)
    assert data["head_stats"] == stats.rows()
    assert close(data["rollout"], analysis.rollout(a.attentions), 1e-7)
    assert close(data["value_weighted"], analysis.value_weighted(a.attentions, a.value_norms), 1e-7)
    # Word groups over the prompt and the generated text: every position once.
    positions = sorted(p for g in data["word_level"]["groups"] for p in g["positions"])
    assert positions == list(range(a.n_tokens))
    spans = [g["span"] for g in data["word_level"]["groups"] if g["kind"] == "word"]
    assert [a.text[s:e] for s, e in spans] == [g["text"] for g in data["word_level"]["groups"] if g["kind"] == "word"]


def test_model_refusals_name_the_flag():
    bert, gpt2 = str(CHECKPOINTS / "bert"), str(CHECKPOINTS / "gpt2")
    with pytest.raises(Refused, match="^--generate: .* is an encoder"):
        report.build(DEFAULTS.replace(prompt="The cat"), bert, Extras(generate=3))
    with pytest.raises(Refused, match="^--generate: the prompt is .* ask for at most"):
        report.build(DEFAULTS.replace(prompt=PROMPT), gpt2, Extras(generate=200))
    with pytest.raises(Refused, match=r"^--compare: the prompt is \d+ tokens; .* takes at most 64 tokens"):
        report.build(DEFAULTS.replace(prompt="a"), gpt2, Extras(compare="cat " * 150))
    with pytest.raises(Refused, match="^--model: .*no such file"):
        report.build(DEFAULTS, "/nonexistent/model", Extras(head_stats=True))


# ── the JSON writer ──────────────────────────────────────────────────────────────────────────────


def test_write_json_is_serialize_s_for_a_plain_result():
    for result in (compute(TOY), models.load(str(CHECKPOINTS / "gpt2")).run(PROMPT)):
        ours, theirs = io.StringIO(), io.StringIO()
        report.write_json(result.json_items(), ours)
        serialize_write_json(result.json_items(), theirs)
        assert ours.getvalue() == theirs.getvalue()


def test_write_json_streams_nested_objects():
    out = io.StringIO()
    scaled = torch.tensor([[0.5, float("-inf")], [1.0, 2.0]])
    report.write_json([("a", report.JSONObject((("t", scaled), ("s", "\u009b"), ("n", None)))), ("b", [1, 2])], out)
    assert out.getvalue() == '{"a": {"t": [[0.5, null], [1.0, 2.0]], "s": "\\u009b", "n": null}, "b": [1, 2]}'


# ── the command line ─────────────────────────────────────────────────────────────────────────────


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_toy_extras(capsys):
    code, out, err = run_cli(capsys, "--json", "--heads", "2", "--head-stats", "--induction-test", "--rollout",
                             "--value-weighted", "--words", "--compare", "Hello World I am here")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["induction_test"]["n"] == 50 and data["induction_test"]["seed"] == 0
    assert len(data["head_stats"]) == 2 and data["head_stats"][0]["delta"] is None
    built = report.build(DEFAULTS.replace(heads=2), "toy", Extras(True, 50, 0, "Hello World I am here", None,
                                                                   True, True, True))
    assert data == as_json(built)
    code, out, _ = run_cli(capsys, "--json", "--induction-test", "7", "--induction-seed", " 1_0 ")
    assert code == 0 and json.loads(out)["induction_test"]["seed"] == 10
    # Without extras, the JSON is what it was.
    code, out, _ = run_cli(capsys, "--json")
    assert "head_stats" not in json.loads(out)


@pytest.mark.parametrize(("argv", "message"), [
    (["--json", "--generate"], "error: --generate: the toy pipeline has no language-model head"),
    (["--words", "--serve"], "error: --words: only with --json, --export or in the explorer"),
    (["--generate", "3", "--export", "csv"], "error: --generate: only with --json or in the explorer"),
    (["--generate", "3"], "error: --generate: the toy pipeline has no language-model head"),
    (["--json", "--generate", "0"], "error: --generate: 0 is out of range: allowed 1 to 100,000"),
    (["--json", "--induction-test", "x"], "error: --induction-test: 'x' is not a whole number"),
    (["--json", "--compare", ""], "error: --compare: the comparison prompt is empty"),
])
def test_cli_refusals(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1


@pytest.mark.skipif(not models.available("minilm"), reason="MiniLM's package is not installed")
def test_cli_encoder_refuses_to_generate(capsys):
    code, out, err = run_cli(capsys, "--json", "--model", "minilm", "--generate", "2")
    assert code == 2 and out == "" and "error: --generate: MiniLM" in err and "is an encoder" in err


@needs_smollm2
def test_cli_smollm2_generation(capsys):
    code, out, err = run_cli(capsys, "--json", "--model", "smollm2", "--prompt", "The capital of France is",
                             "--generate", "2", "--head-stats")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["tokens"][-2:] == ["▁Paris", "."] and data["continuation"] == " Paris."
    assert data["generated"] == [False] * 5 + [True] * 2
    assert len(data["head_stats"]) == 30 * 9
