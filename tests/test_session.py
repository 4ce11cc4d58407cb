"""The session, without a screen: field texts → requests, which outcomes are shown, the status line."""

from __future__ import annotations

from types import SimpleNamespace

from attn_tui.compute import Computed, Failed, Request, View
from attn_tui.config import DEFAULTS
from attn_tui.session import Session

VIEW = View("weights")


def computed(request: Request, seconds: float = 0.001) -> Computed:
    result = SimpleNamespace(summary=lambda: "T=10 · the result")
    return Computed(request, result, seconds, None)  # type: ignore[arg-type]


def test_valid_fields_make_numbered_requests_and_invalid_ones_errors():
    session = Session.start(DEFAULTS)
    first = session.request(VIEW)
    assert first is not None and first.generation == 1 and first.config == DEFAULTS
    assert session.edit("d_k", "2x4") and not session.edit("d_k", "2x4")  # the same text: no change
    assert session.request(VIEW) is None
    assert "not a whole number" in session.errors["d_k"] and session.generation == 1
    session.edit("d_k", "8")
    session.edit("heads", "3")
    assert session.request(VIEW) is None and "does not divide" in session.errors["heads"]
    session.edit("heads", "2")
    second = session.request(VIEW)
    assert second is not None and second.generation == 2 and second.config.heads == 2 and not session.errors


def test_a_model_source_reads_only_the_prompt():
    session = Session.start(DEFAULTS, "minilm")
    session.edit("d_k", "not a number")  # a toy setting: no business of a model's
    request = session.request(VIEW)
    assert request is not None and request.source == "minilm" and not session.errors
    session.edit("prompt", "   ")
    assert session.request(VIEW) is None and "empty" in session.errors["prompt"]


def test_older_and_other_source_results_are_not_shown():
    session = Session.start(DEFAULTS)
    old, new = session.request(VIEW), session.request(VIEW)
    assert session.accepts(computed(new))
    assert not session.accepts(computed(old)), "an older result never replaces a newer one"
    stray = Request(3, "minilm", DEFAULTS, VIEW)
    session.generation = 3
    assert not session.accepts(computed(stray)), "a late result of another source is not this source's"


def test_a_result_that_is_not_the_newest_is_shown_but_stale():
    session = Session.start(DEFAULTS)
    first = session.request(VIEW)
    session.request(VIEW)  # typed again while the first computed
    assert session.accepts(computed(first))
    shown = computed(first).result
    assert session.pending and session.stale(shown)  # type: ignore[arg-type]
    assert "◌ computing…" in session.status(shown)  # type: ignore[arg-type]


def test_failures_always_reach_the_status():
    """A torch that cannot load fails every request, whatever was typed since: shown, never 'computing…'
    for ever. A model that cannot load fails for an older request too: the newer would fail the same."""
    session = Session.start(DEFAULTS)
    session.request(VIEW)
    session.request(VIEW)
    assert session.failed(Failed(None, None, "could not load torch: broken"))
    assert "could not load torch" in session.status(None) and "✗" in session.status(None)

    session = Session.start(DEFAULTS, "minilm")
    old = session.request(VIEW)
    session.request(VIEW)
    assert session.failed(Failed(old, "model", "MiniLM is not installed"))
    assert session.errors == {"model": "MiniLM is not installed"}

    session = Session.start(DEFAULTS)
    old = session.request(VIEW)
    session.request(VIEW)
    assert not session.failed(Failed(old, "prompt", "an older prompt's problem")), "superseded"
    other = Request(session.generation, "smollm2", DEFAULTS, VIEW)
    assert not session.failed(Failed(other, "model", "not this source")), "another source's"


def test_status_line():
    session = Session.start(DEFAULTS)
    assert session.status(None) == "attn-tui · toy  ◌ loading torch…"
    request = session.request(VIEW)
    outcome = computed(request, 0.0123)
    session.accepts(outcome)
    assert session.status(outcome.result) == "attn-tui · toy  ● current  T=10 · the result · 12.3 ms"  # type: ignore[arg-type]
    assert session.status(outcome.result, timing=False).endswith("the result")  # type: ignore[arg-type]
    session.edit("seed", "\x1b[2J")
    session.request(VIEW)
    line = session.status(outcome.result)  # type: ignore[arg-type]
    assert line.startswith("attn-tui · toy  ✗ stale · seed = ") and "\x1b" not in line
