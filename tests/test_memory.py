"""Memory, honestly bounded (issue 12, item 16): the peak resident set of every path at the ceilings.

Each case runs the real command (or the app, headless) in a fresh process at the worst config the
limits accept, and reads the kernel's peak (`wait4`, tests/memory.py). Writers are stopped once well
into their first big matrix: compute peaks before the first byte is written, and a writer that built a
whole matrix (or the whole object: `--json` at 2,048 words × 8 heads passed 6 GB) would peak before
that matrix's first row went out, so stopping there measures both without printing gigabytes.

README ("Limits"): no accepted config takes the process past about 1 GiB. config.MAX_TENSOR_BYTES
bounds one result and its tables; the command needs that plus Python and torch, the app twice that
(the result on screen and the next one) plus Textual.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from attn_tui.config import (
    MAX_ATTENTION_CELLS,
    MAX_TABLE_CELLS,
    MAX_TENSOR_BYTES,
    AttentionConfig,
    field_problems,
    tensor_bytes,
)
from tests.memory import MiB, peak

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="wait4's ru_maxrss, /proc")

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024.0
COMMAND_CEILING = MAX_TENSOR_BYTES / MiB + 300
"""The command: one result and its tables, plus Python, torch and numpy (about 230 MiB here)."""
APP_CEILING = GIB
"""The app: two results and their tables, plus Textual; the README's 1 GiB."""

WORDS_2048 = " ".join(f"w{i}" for i in range(2048))  # ids 0..2047 in both vocab modes
WORDS_512 = " ".join(f"w{i}" for i in range(512))

# The heaviest configs the limits accept, each filling MAX_TENSOR_BYTES a different way.
WORST = {
    # 2,048 words × 4 heads (the attention ceiling), and the widest d that still fits: causal, so
    # masked_fill's copy of `scaled` is made too.
    "attention": AttentionConfig(prompt=WORDS_2048, heads=4, d_model=1720, d_k=1720, d_v=1720, vocab_size=2048,
                                 causal=True),
    # The table ceiling (vocab_size × d_model = 2²⁶ floats), with 512 words × 8 heads.
    "table": AttentionConfig(prompt=WORDS_512, heads=8, d_model=4096, d_k=560, d_v=560, vocab_size=16384),
    # Every width at 4,096: the weight matrices.
    "widths": AttentionConfig(d_model=4096, d_k=4096, d_v=4096, vocab_size=8000),
}


def flags(config: AttentionConfig) -> list[str]:
    from attn_tui.argv import command_flags

    return command_flags(config)


def test_the_worst_configs_are_accepted_and_fill_the_budget():
    for name, config in WORST.items():
        assert field_problems(config) == [], name
        words = len(config.prompt.split())
        assert sum(tensor_bytes(config, words).values()) > 0.78 * MAX_TENSOR_BYTES, name
    assert MAX_ATTENTION_CELLS == 4 * 2048 ** 2 and MAX_TABLE_CELLS == 16384 * 4096


@pytest.mark.parametrize(("config", "field"), [
    # The old ceilings accepted these: 1.26 GB for --json, 2.3 GB in the app after one edit.
    (AttentionConfig(prompt=WORDS_2048, heads=8, d_model=4096, d_k=4096, d_v=4096, vocab_size=16384), "prompt"),
    (AttentionConfig(prompt=WORDS_2048, heads=4, d_model=4096, d_k=4096, d_v=4096, vocab_size=16384), "d_model"),
    (AttentionConfig(prompt=WORDS_512, heads=8, d_model=4096, d_k=4096, d_v=4096, vocab_size=16384), "vocab_size"),
    (AttentionConfig(d_model=4096, d_k=4096, d_v=4096, vocab_size=16384), "vocab_size"),
    (AttentionConfig(prompt=WORDS_2048, heads=4, d_model=2048, d_k=4096, d_v=4096, vocab_size=2048), "d_k"),
], ids=["2048x8-all-4096", "2048x4-all-4096", "table-and-widths", "widths-and-table", "widths"])
def test_configs_over_the_memory_budget_are_refused_naming_a_field(config, field):
    problems = field_problems(config)
    assert problems, "accepted"
    assert problems[0].field == field
    assert f"at most {MAX_TENSOR_BYTES >> 20} MiB" in str(problems[0]) or "ceiling" in str(problems[0])


# ── The command ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("name", list(WORST))
def test_json_at_the_ceilings(name):  # about 5 s each
    result = peak(["--json", *flags(WORST[name])], stop_after=b'"embeddings": [', extra=8 * MiB)
    assert result.stdout.startswith(b'{"prompt": '), result.stderr[-500:]
    assert result.mib < COMMAND_CEILING, f"--json peaked at {result.mib:.0f} MiB"


def test_json_streams_the_heads_by_t_by_t_matrices():  # about 8 s
    # 2,048 words × 4 heads with small widths reaches `scores` (4 × 2,048 × 2,048) quickly.
    config = AttentionConfig(prompt=WORDS_2048, heads=4, d_k=32, d_v=32, vocab_size=5000, causal=True)
    result = peak(["--json", *flags(config)], stop_after=b'"scores": [', extra=24 * MiB)
    assert b'"scores": [' in result.stdout, result.stderr[-500:]
    assert result.mib < COMMAND_CEILING, f"--json peaked at {result.mib:.0f} MiB"


def _grows_past(folder: Path, size: int):
    return lambda: any(p.stat().st_size > size for p in folder.iterdir())


@pytest.mark.parametrize("kind", ["json", "csv", "npz"])
def test_export_at_the_ceiling(kind, tmp_path):  # 6 to 8 s each
    result = peak(["--export", kind, "--export-dir", str(tmp_path), *flags(WORST["attention"])],
                  stop_when=_grows_past(tmp_path, 64 * MiB))
    assert result.status in (0, -9), result.stderr[-500:]
    assert any(tmp_path.iterdir()), "nothing was being written"
    assert result.mib < COMMAND_CEILING, f"--export {kind} peaked at {result.mib:.0f} MiB"


MODEL_PROMPTS = {"minilm": " ".join(["word"] * 510), "smollm2": " ".join(["word"] * 268)}
"""Each bundled model at its token cap (512 with [CLS] and [SEP]; 268)."""


@pytest.mark.parametrize("model", [
    "minilm",
    pytest.param("smollm2", marks=pytest.mark.slow),
])
def test_model_json_at_the_token_cap(model):  # minilm about 7 s, smollm2 10 to 45 s
    from attn_tui import models

    if not models.available(model):
        pytest.skip(f"{model} is not installed")
    result = peak(["--json", "--model", model, "--prompt", MODEL_PROMPTS[model]],
                  stop_after=b'"attentions": [', extra=8 * MiB)
    assert b'"attentions": [' in result.stdout, result.stderr[-500:]
    assert result.mib < GIB, f"--json --model {model} peaked at {result.mib:.0f} MiB"


# ── The app ────────────────────────────────────────────────────────────────────────────────────

APP = textwrap.dedent("""
    import asyncio, os, sys, threading
    from pathlib import Path

    from attn_tui import export
    from attn_tui.app import AttnApp
    from attn_tui.config import AttentionConfig
    from tests.scenarios import settle

    config = AttentionConfig(**eval(sys.argv[1]))
    folder = Path(sys.argv[2])

    async def main():
        app = AttnApp(config=config)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            box = app.explorer.query_one("#vocab-size")  # a new table and a new result, the old on screen
            box.focus()
            await pilot.pause()
            await pilot.press("end", "backspace", "9")
            await settle(pilot)
            assert app.result.config.vocab_size == config.vocab_size // 10 * 10 + 9, app.result.config
            writer = threading.Thread(target=export.export, daemon=True,
                                      args=(app.result, ["json"], export.Selection(), folder))
            writer.start()  # the dialog's export runs on a worker thread like this
            while writer.is_alive() and not any(p.stat().st_size > 64 << 20 for p in folder.iterdir()):
                await asyncio.sleep(0.05)
            print("done", flush=True)
            os._exit(0)

    asyncio.run(main())
""")


def test_the_app_at_the_ceiling_after_an_edit_and_an_export(tmp_path):  # about 25 s
    config = WORST["attention"]
    fields = {f: getattr(config, f) for f in ("prompt", "heads", "d_model", "d_k", "d_v", "vocab_size", "causal")}
    result = peak([repr(fields), str(tmp_path)], code=APP, cwd=ROOT)
    assert result.status == 0 and result.stdout.endswith(b"done\n"), result.stderr[-2000:]
    assert result.mib < APP_CEILING, f"the app peaked at {result.mib:.0f} MiB"


def test_a_peak_is_the_measured_process_own_not_the_test_process():
    """A process's ru_maxrss counts, at exec, the resident set of the process it was forked from: with a pytest
    worker that had loaded a model, every command measured 1,113 MiB. The launcher in tests/memory.py fixes it."""
    ballast = bytearray(400 * MiB)  # this process grows by 400 MiB, as a worker that loaded a model does
    ballast[::4096] = b"x" * len(ballast[::4096])  # touched: resident
    result = peak([], code="pass")
    assert result.status == 0
    assert result.mib < 100, f"python -c pass peaked at {result.mib:.0f} MiB"
    del ballast
