"""Issue 16 in the explorer: the derived stages (value-weighted, rollout), generation in the compute service and
the app, next-token predictions, the word view; their exports and command lines.

Values are checked against attn_tui.report (the `--json` extras: one definition) and against plain loops. The
pilot tests use the tiny Llama fixture (a subword tokenizer, a language-model head, milliseconds a token);
SmolLM2 has its own tests and the snapshots.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import attn_tui.models as models
from attn_tui import report
from attn_tui.app import AttnApp
from attn_tui.argv import command_line
from attn_tui.attention import AttentionConfig, compute
from attn_tui.compute import Computed, ComputeService, Failed, Request, View
from attn_tui.config import DEFAULTS
from attn_tui.export import Selection, export
from attn_tui.screens.presenter import marked_vocab
from attn_tui.serialize import MATRICES, result_to_dict
from attn_tui.stages import GENERATED_MARK, PIPELINE, STAGE_BY_NAME, STAGES, stage_matrix, token_labels
from attn_tui.widgets.inspector import Inspector
from attn_tui.widgets.matrix import MatrixView
from attn_tui.widgets.predictions import PredictionsView, prediction_lines
from tests.scenarios import settle

LLAMA = str(Path(__file__).parent / "fixtures" / "checkpoints" / "llama")
"""A tiny Llama (2 layers × 4 heads, a byte-level BPE that splits words): fast enough for pilots."""
PROMPT = "The cat sat on the mat."
needs_smollm2 = pytest.mark.skipif(not models.available("smollm2"), reason="SmolLM2's package is not installed")


@pytest.fixture(scope="module")
def llama():
    return models.load(LLAMA)


def reference_rollout(weights: np.ndarray) -> np.ndarray:
    """Abnar & Zuidema's rollout with plain loops: Ā = ½·mean_h A + ½·I, rows renormalised, R_l = Ā_l R_(l−1)."""
    layers, _, t, _ = weights.shape
    out, current = [], np.eye(t)
    for layer in range(layers):
        mixed = 0.5 * weights[layer].mean(axis=0) + 0.5 * np.eye(t)
        mixed = mixed / mixed.sum(axis=1, keepdims=True)
        current = mixed @ current
        out.append(current)
    return np.stack(out)


# ── the stage registry ───────────────────────────────────────────────────────────────────────────


def test_the_new_stages_have_their_own_keys_and_stay_out_of_the_pipeline():
    vw, roll = STAGE_BY_NAME["value_weighted"], STAGE_BY_NAME["rollout"]
    assert (vw.key, vw.binding, roll.key, roll.binding) == ("-", "minus", "=", "equals_sign")
    assert len({s.key for s in STAGES}) == len(STAGES)
    assert vw.per_head and not roll.per_head and not vw.signed and not roll.signed
    assert vw.derived and roll.derived and roll.distribution and not vw.distribution
    assert tuple(s.name for s in STAGES[:10]) == PIPELINE
    assert ("embeddings", *PIPELINE) == MATRICES
    # The toy's --json object is what it was: the derived stages come with --value-weighted and --rollout.
    assert list(result_to_dict(compute(DEFAULTS))) == ["prompt", "config", "words", "vocab", "token_ids",
                                                        *MATRICES]


def test_toy_value_weighted_and_rollout_against_plain_loops():
    result = compute(AttentionConfig(heads=2, causal=True))
    weights = result.weights.numpy()  # (H, T, T)
    t = result.n_tokens
    for head in range(2):
        v = result.stage_tensor("value", 0, head).numpy()
        expected = np.array([[weights[head, i, j] * np.linalg.norm(v[j]) for j in range(t)] for i in range(t)])
        got = result.stage_tensor("value_weighted", 0, head).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(result.stage_tensor("value_weighted", 0, head),
                                   report.value_weighted_of(result)[0, head])
    rollout = result.stage_tensor("rollout", 0, 1).numpy()
    np.testing.assert_allclose(rollout, reference_rollout(weights[None])[0], rtol=1e-5, atol=1e-6)
    assert np.allclose(rollout.sum(axis=1), 1.0, atol=1e-5) and np.allclose(np.triu(rollout, 1), 0.0)
    matrix = stage_matrix(result, "rollout", 1)
    assert matrix.title.startswith("rollout = Ā_l ⋯ Ā_1, heads averaged  (10×10)")  # per layer: no head
    assert matrix.kind == "sequential" and matrix.masked is not None and matrix.unit == "share"
    vw = stage_matrix(result, "value_weighted", 1)
    assert vw.low == 0.0 and vw.high == pytest.approx(float(vw.values[~vw.masked].max()))  # its own scale
    assert vw.high > 1.0  # not the weights' 0…1: the values' norms scale it


def test_model_derived_stages_against_report_and_loops(llama):
    result = llama.run(PROMPT)
    weights = result.attentions.numpy()
    for layer in range(result.n_layers):
        for head in range(result.n_heads):
            torch.testing.assert_close(result.stage_tensor("value_weighted", layer, head),
                                       report.value_weighted_of(result)[layer, head])
            norms = result.value_norms[layer, head].numpy()
            np.testing.assert_allclose(result.stage_tensor("value_weighted", layer, head).numpy(),
                                       weights[layer, head] * norms[None, :], rtol=1e-5, atol=1e-7)
    expected = reference_rollout(weights.astype(np.float64))
    for layer in range(result.n_layers):
        np.testing.assert_allclose(result.stage_tensor("rollout", layer, 0).numpy(), expected[layer], atol=1e-5)
    arrays = result.npz_arrays()
    np.testing.assert_allclose(arrays["rollout"], report.rollout_of(result).numpy())
    weighted = arrays["value_weighted"]  # written a layer at a time (attn_tui.result.Chunks)
    assert weighted.shape == tuple(report.value_weighted_of(result).shape)
    np.testing.assert_allclose(np.stack(list(weighted.parts())), report.value_weighted_of(result).numpy())
    hidden = stage_matrix(result, "rollout", 0, layer=1, hide_special=True)
    assert hidden.shape[0] == result.n_tokens - sum(result.special)
    np.testing.assert_allclose(hidden.values.sum(axis=1), 1.0, atol=1e-5)  # renormalised, like the weights


# ── the word view ────────────────────────────────────────────────────────────────────────────────


def test_the_word_view_merges_subwords_and_keeps_rows_summing_to_one(llama):
    result = llama.run(PROMPT)
    assert "▁c" in result.tokens and "at" in result.tokens  # the fixture's tokenizer splits words
    axis = report.word_axis(result)
    groups, merged = report.merge_words_of(result)
    assert axis.positions == tuple(g.positions for g in groups)
    assert axis.labels == ("<|begin_of_text|>", "The", "cat", "sat", "on", "the", "▁", "mat.")  # a lone space stays
    for name in ("weights", "value_weighted", "rollout"):
        matrix = stage_matrix(result, name, 2, layer=1, words=axis)
        assert matrix.row_labels == matrix.col_labels == axis.labels and matrix.groups == axis.positions
        assert matrix.rows_index == tuple(g[-1] for g in axis.positions)  # each word's last token
        assert matrix.title.endswith("words (w)")
        if name != "value_weighted":
            np.testing.assert_allclose(matrix.values.sum(axis=1), 1.0, atol=1e-5)
    weights = stage_matrix(result, "weights", 2, layer=1, words=axis)
    np.testing.assert_allclose(weights.values, merged[1, 2].numpy(), atol=1e-6)  # --json's word_level
    # weight(u → w) = mean over u's tokens of Σ over w's: "cat" (▁c, at) → "The", by hand.
    a = result.attentions[1, 2].numpy()
    cat, the = axis.positions[2], axis.positions[1]
    assert weights.values[2, 1] == pytest.approx(np.mean([a[i, list(the)].sum() for i in cat]), abs=1e-6)
    assert weights.masked is not None and weights.masked[1, 2] and not weights.masked[2, 1]
    # Scores are logits, not shares: they stay per token, and the title says why.
    scores = stage_matrix(result, "scores", 2, layer=1, words=axis)
    assert scores.shape == (result.n_tokens, result.n_tokens) and "words: weights, value-weighted" in scores.title
    # Special tokens hidden, then merged: the <|begin_of_text|> row is gone, rows still sum to 1.
    both = stage_matrix(result, "weights", 2, layer=1, hide_special=True, words=axis)
    assert both.row_labels == axis.labels[1:]
    np.testing.assert_allclose(both.values.sum(axis=1), 1.0, atol=1e-5)


# ── generated tokens, marked everywhere ──────────────────────────────────────────────────────────


def test_generated_tokens_are_marked_in_every_label(llama):
    generation = llama.generate(PROMPT, 4)
    labels = token_labels(generation)
    assert [label.startswith(GENERATED_MARK) for label in labels] == list(generation.generated)
    assert stage_matrix(generation, "weights", 0).row_labels == labels
    assert token_labels(llama.run(PROMPT)) == llama.run(PROMPT).tokens  # nothing generated, nothing marked
    assert compute(DEFAULTS).generated == (False,) * 10 and llama.run(PROMPT).generated == (False,) * 12
    vocab = marked_vocab(generation)
    typed = set(generation.token_ids[: generation.n_prompt])
    assert {token.startswith(GENERATED_MARK) for token, i in vocab.items() if i in typed} == {False}
    assert {token.startswith(GENERATED_MARK) for token, i in vocab.items() if i not in typed} == {True}


# ── exports and command lines ────────────────────────────────────────────────────────────────────


def test_exports_carry_the_derived_stages_and_the_word_view(tmp_path, llama):
    result = llama.run(PROMPT)
    [path] = export(result, ["json"], Selection("rollout", 1, 0), tmp_path / "roll")
    data = json.loads(path.read_text())
    assert data["rollout"] == report.rollout_of(result).tolist() and "value_weighted" not in data
    [path] = export(result, ["json"], Selection("weights", 1, 0, words=True), tmp_path / "words")
    data = json.loads(path.read_text())
    assert [g["label"] for g in data["word_level"]["groups"]][:3] == ["<|begin_of_text|>", "The", "cat"]
    [csv_path] = export(result, ["csv"], Selection("weights", 1, 2, words=True), tmp_path / "csv")
    assert csv_path.name == "attn-llama-weights-words-layer2-head3.csv"
    rows = [line.split(",") for line in csv_path.read_text().splitlines()]
    assert rows[0][1:4] == ["0:<|begin_of_text|>", "1:The", "3:cat"]
    assert sum(float(x) for x in rows[3][1:]) == pytest.approx(1.0, abs=1e-5)
    [svg] = export(result, ["grid"], Selection("value_weighted", 1, 2, words=True), tmp_path / "svg")
    assert svg.name.endswith("-value_weighted-words-layer2-head3.svg") and "mat." in svg.read_text()
    # A stage that does not add up stays per token whatever the view.
    [scores] = export(result, ["csv"], Selection("scores", 1, 2, words=True), tmp_path / "scores")
    assert "-words" not in scores.name


def test_the_command_line_says_words_and_generation():
    assert command_line(DEFAULTS, "smollm2", words=True, generate=8) == "attn-tui --model smollm2 --generate 8 --words"
    assert command_line(DEFAULTS) == "attn-tui"


# ── the compute service ──────────────────────────────────────────────────────────────────────────


def _service_run(requests, *, on_outcome=None, timeout=60.0, last=None):
    """Submit `requests` to a fresh service; every outcome until request number `last` (the last one's) is
    answered."""
    outcomes: list = []
    done = threading.Event()
    last = last or requests[-1].generation

    def deliver(outcome):
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(service, outcome)
        request = getattr(outcome, "request", None)
        if request is not None and request.generation >= last and getattr(outcome, "progress", None) is None:
            done.set()

    service = ComputeService(deliver)
    for request in requests:
        service.submit(request)
    assert done.wait(timeout), outcomes
    service.close()
    return [o for o in outcomes if not hasattr(o, "fraction")]


def test_the_service_generates_and_shows_the_tokens_as_they_come(llama, monkeypatch):
    monkeypatch.setattr("attn_tui.compute.PARTIAL_EVERY", 0.0)
    config = DEFAULTS.replace(prompt=PROMPT)
    outcomes = _service_run([Request(1, LLAMA, config, View("weights"), generate=6)])
    partials = [o for o in outcomes if o.progress is not None]
    final = outcomes[-1]
    assert isinstance(final, Computed) and final.progress is None and not final.stopped
    assert [o.result.n_generated for o in partials] == [1, 2, 3, 4, 5]
    assert [o.progress[0] for o in partials] == pytest.approx([1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6])
    assert final.result.token_ids == llama.generate(PROMPT, 6).token_ids
    assert final.grid is not None and final.grid.shape == (18, 18)


def test_cancel_keeps_the_tokens_made_and_a_newer_request_drops_the_generation(llama):
    config = DEFAULTS.replace(prompt=PROMPT)

    def cancel_at_first_token(service, outcome):
        if getattr(outcome, "progress", None) is not None:
            service.cancel_generation()

    outcomes = _service_run([Request(1, LLAMA, config, View("weights"), generate=50)],
                            on_outcome=cancel_at_first_token)
    final = outcomes[-1]
    assert final.stopped.startswith("generation was cancelled after 1 of 50") and final.result.n_generated == 1

    def edit_at_first_token(service, outcome):
        if getattr(outcome, "progress", None) is not None and outcome.request.generation == 1:
            service.submit(Request(2, LLAMA, config.replace(prompt="A dog."), View("weights")))

    outcomes = _service_run([Request(1, LLAMA, config, View("weights"), generate=50)],
                            on_outcome=edit_at_first_token, last=2)
    dropped = [o for o in outcomes if isinstance(o, Failed)]
    assert [o.request.generation for o in dropped] == [1]  # the session ignores it: an older request
    assert outcomes[-1].request.generation == 2 and outcomes[-1].result.prompt == "A dog."


def test_the_service_predicts_with_the_model_that_made_the_result(llama):
    config = DEFAULTS.replace(prompt=PROMPT)
    outcomes: list = []
    done = threading.Event()
    service = ComputeService(lambda o: (outcomes.append(o), isinstance(o, Computed) and done.set()))
    service.submit(Request(1, LLAMA, config, View("weights")))
    assert done.wait(60)
    result = outcomes[-1].result
    got = service.predictions(result, 3, lens=True)
    want = llama.predictions(result, 3, lens=True)
    assert got.top == want.top and got.lens == want.lens
    from attn_tui.sources import SourceFailure

    with pytest.raises(SourceFailure, match="the toy has no language-model head"):
        service.predictions(compute(DEFAULTS), 0)
    service.close()


# ── the app ──────────────────────────────────────────────────────────────────────────────────────


async def _generated_app(pilot, n: int = 8) -> None:
    await settle(pilot)
    await pilot.press("escape", "n")
    await settle(pilot)
    assert pilot.app.result.n_generated == n


async def test_n_generates_and_every_pane_marks_the_generated_tokens(llama):
    app = AttnApp(model=LLAMA, prompt=PROMPT)
    app.show_timing = False
    async with app.run_test(size=(120, 40)) as pilot:
        await _generated_app(pilot)
        result = app.result
        assert result.token_ids == llama.generate(PROMPT, 8).token_ids
        grid = app.query_one("#attention-grid", MatrixView)
        assert grid.cursor[0] == result.n_tokens - 1  # it followed the newest token
        assert grid.matrix.row_labels[-1] == GENERATED_MARK + result.tokens[-1]
        assert app.query_one("#token-ids").words[-1].startswith(GENERATED_MARK)
        text = app.query_one(Inspector).text
        assert f"query {result.n_tokens - 1}:{GENERATED_MARK}" in text and "⁺ generated: token 8 of 8" in text
        assert app.command() == f"attn-tui --model {LLAMA} --prompt '{PROMPT}' --generate 8"
        assert "8 generated" in str(app.query_one("#status").content)
        # < > step the query through the generated tokens, wrapping; the inspector follows.
        first = result.n_tokens - 8
        await pilot.press("greater_than_sign")
        await pilot.pause()
        assert grid.cursor[0] == first and f"query {first}:{GENERATED_MARK}" in app.query_one(Inspector).text
        await pilot.press("less_than_sign")
        await pilot.pause()
        assert grid.cursor[0] == result.n_tokens - 1
        # n again: 8 more after those (greedy, so the first 8 stay).
        await pilot.press("n")
        await settle(pilot)
        assert app.result.n_generated == 16 and app.result.token_ids[:20] == result.token_ids
        # An edit drops the generation: a plain run of the new prompt.
        await pilot.press("slash", "end", "x")
        await settle(pilot)
        assert not hasattr(app.result, "n_generated") and app.result.prompt == PROMPT + "x"
        assert "--generate" not in app.command()


async def test_the_predictions_follow_the_cursor_with_the_models_numbers(llama):
    app = AttnApp(model=LLAMA, prompt=PROMPT)
    app.show_timing = False
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "down", "down", "down")
        await settle(pilot)
        view = app.query_one(PredictionsView)
        want = llama.predictions(app.result, 3)
        assert view.predictions.position == 3 and view.predictions.top == want.top
        assert view.text.startswith("after 3:at comes…")
        assert f"{want.top[0].probability:.1%}" in view.text.splitlines()[1] or want.top[0].probability < 0.0995
        assert app.screen.has_class("-predicts") and app.query_one("#predictions-box").display
        await pilot.press("p")
        await settle(pilot)
        lens = llama.predictions(app.result, 3, lens=True)
        assert view.lens and view.predictions.lens == lens.lens
        assert len(view.text.splitlines()) == 1 + 5 + 1 + 1 + (app.result.n_layers + 1)
        # Back to a position seen before: from the cache, at once, without a worker.
        await pilot.press("up")
        await settle(pilot)
        await pilot.press("down")
        assert view.predictions.position == 3 and view.lens


async def test_the_toy_and_encoders_dim_the_keys_and_say_why():
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape")
        screen = app.screen
        assert screen.check_action("generate", ()) is None and screen.check_action("toggle_words", ()) is None
        assert "no language-model head" in screen.why_not("generate", ())
        await pilot.press("n")
        await pilot.pause()
        assert any("language-model head" in str(n.message) for n in app._notifications)
        assert not app.query_one("#predictions-box").display and app.result.n_tokens == 10
        await pilot.press("minus")
        await settle(pilot)
        assert app.stage == "value_weighted"
        assert app.query_one("#attention-grid", MatrixView).matrix.title.startswith("value-weighted")
        await pilot.press("equals_sign")
        await settle(pilot)
        assert app.stage == "rollout" and "Ā_l" in app.query_one(Inspector).text


async def test_the_word_view_in_the_app_keeps_the_query_and_its_state_everywhere(tmp_path, llama):
    app = AttnApp(model=LLAMA, prompt=PROMPT, export_dir=tmp_path)
    app.show_timing = False
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "down", "down", "down")  # token 3: "at" of "cat"
        await pilot.press("w")
        await settle(pilot)
        grid = app.query_one("#attention-grid", MatrixView)
        assert app.screen.words and grid.matrix.row_labels[2] == "cat" and grid.cursor[0] == 2
        assert "words (w)" in grid.matrix.title and "w words" in str(app.query_one("#stage-bar").content)
        assert app.query_one(Inspector).text.startswith("word  2–3:▁c|at")
        assert app.command().endswith("--words")
        await pilot.press("e", "c")
        await settle(pilot)
        for _ in range(100):
            if list(tmp_path.glob("*.csv")):
                break
            await pilot.pause(0.02)
        assert [p.name.split("-weights-")[1] for p in tmp_path.glob("*.csv")] == ["words-layer1-head1.csv"]
        await pilot.press("7")  # scores: not merged, and w cannot turn the view on there
        await settle(pilot)
        assert grid.matrix.groups is None and app.screen.words
        await pilot.press("w")
        await pilot.pause()
        assert not app.screen.words  # turning it off always works


async def test_the_command_line_opens_a_generation_in_the_word_view(llama):
    app = AttnApp(model=LLAMA, prompt=PROMPT, words=True, generate=3)
    app.show_timing = False
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.result.n_generated == 3 and app.screen.words
        assert app.query_one("#attention-grid", MatrixView).matrix.groups is not None


async def test_narrow_terminals_show_the_predictions_as_a_side_pane():
    app = AttnApp(model=LLAMA, prompt=PROMPT)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape", *["t"] * 5)
        await settle(pilot)
        assert app.screen.side == "predictions" and app.query_one("#predictions-box").display
        assert app.query_one(PredictionsView).predictions is not None
    toy = AttnApp()
    async with toy.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape", *["t"] * 5)
        assert toy.screen.side == "inspector"  # five side panes: the sixth is a decoder's


def test_prediction_lines_read_well():
    from attn_tui.models.result import Guess, Predictions

    guesses = tuple(Guess(i, t, p, 0.0, r) for r, (i, t, p) in enumerate(
        [(5, "▁was", 0.621), (6, "▁is", 0.103), (7, "▁had", 0.052), (8, "x", 0.004), (9, "y", 0.00001)], start=1))
    pred = Predictions(3, guesses, Guess(6, "▁is", 0.103, 0.0, 2), tuple((guesses[0], guesses[1]) for _ in range(3)),
                       (0.01, 0.3, 0.621))
    text = ["".join(t for t, _ in line) for line in prediction_lines(pred, "3:▁it", width=28, lens=True)]
    assert text[:3] == ["after 3:▁it comes…", "1 ▁was        62.1% ███▊", "2 ▁is         10.3% ▋"]
    assert text[5:7] == ["5 y          <0.01% ", "next is ▁is 10.3%, rank 2"]
    assert text[7].startswith("p lens") and text[7].endswith("▁was") and len(text[8]) <= 28
    assert text[8] == "  2 ▁was      .62  .62" and text[-1] == "emb ▁was      .62  .01"  # the last layer first


@needs_smollm2
async def test_smollm2_generates_in_the_app_as_the_model_does():
    want = models.load("smollm2").generate("The cat sat on the mat because it was tired.", 4)
    app = AttnApp(model="smollm2", prompt="The cat sat on the mat because it was tired.", generate=4)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.result.token_ids == want.token_ids and app.result.continuation == want.continuation


async def test_while_the_cursor_follows_a_generation_the_pane_waits_then_predicts(llama):
    """Following the newest token, the next token is the grid's next row: the pane says so instead of running the LM
    head on every partial result; once the generation ends it shows the last token's predictions."""
    app = AttnApp(model=LLAMA, prompt=PROMPT)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        service = app.explorer.service
        service.partial_every = 0.0
        release, held = threading.Event(), threading.Event()
        deliver = service._deliver

        def hold(outcome):
            deliver(outcome)
            if getattr(outcome, "progress", None) is not None and outcome.result.n_generated == 2:
                held.set()
                release.wait(30)

        service._deliver = hold
        await pilot.press("escape", "n")
        for _ in range(500):
            await pilot.pause(0.01)
            if held.is_set() and getattr(app.result, "n_generated", 0) == 2:
                break
        await pilot.pause(0.1)
        view = app.query_one(PredictionsView)
        assert view.predictions is None and view.text.startswith("generating: each next token")
        assert app.explorer.generating and "generating 2/8" in str(app.query_one("#status").content)
        release.set()
        await settle(pilot)
        assert not app.explorer.generating and app.query_one("#stage-box").border_subtitle == ""
        last = app.result.n_tokens - 1
        assert view.predictions.position == last and view.predictions.top == llama.predictions(app.result, last).top


async def test_a_generation_the_model_cannot_make_says_why_and_shows_the_prompt():
    """`--generate` on an encoder (or past the model's length): a warning, and the prompt's own result."""
    bert = str(Path(LLAMA).parent / "bert")
    app = AttnApp(model=bert, prompt=PROMPT, generate=3)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.result is not None and not hasattr(app.result, "n_generated") and not app.errors
        assert any("is an encoder" in str(n.message) for n in app._notifications)
        assert not app.explorer.generating and not app.query_one("#predictions-box").display


async def test_a_late_cursor_message_of_an_earlier_follow_does_not_stop_the_following(llama):
    """Two tokens arrive before the grid's first CursorMoved is handled: the message for the older row must not
    read as the user moving away (it did, now and then, under load: the pane then predicted the prompt's end)."""
    app = AttnApp(model=LLAMA, prompt=PROMPT)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        explorer = app.explorer
        grid = app.query_one("#attention-grid", MatrixView)
        last = grid.matrix.shape[0] - 1
        explorer._following, explorer._follow_row = True, last - 1
        grid.move_cursor(last - 1, 0)  # an earlier follow: its message is still queued ...
        explorer._follow_row = last
        grid.move_cursor(last, 0)  # ... when the next token moves the cursor on
        await pilot.pause()
        assert explorer._following
        grid.focus()
        await pilot.press("up")  # the user does leave the newest token
        await pilot.pause()
        assert not explorer._following
