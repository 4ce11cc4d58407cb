"""Any local checkpoint (issue 14), from the command line and in the app: `--model PATH`, `--device`,
the palette's "Open model…", loading progress and cancel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from textual.widgets import Input

from attn_tui import models
from attn_tui.app import AttnApp
from attn_tui.screens.open_model import OpenModelScreen, path_problem
from attn_tui.widgets.matrix import MatrixView
from tests.scenarios import settle

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "tests" / "fixtures" / "checkpoints"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "attn_tui", *args], capture_output=True, text=True, timeout=180,
                          cwd=ROOT)


@pytest.mark.parametrize("path", ["llama", "gpt2.gguf", "bert"])
def test_json_opens_a_folder_or_a_gguf_file(path):
    target = str(CHECKPOINTS / path)
    out = cli("--json", "--model", target, "--prompt", "hello there world")
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", "progress goes to stderr only when stderr is a terminal"
    data = json.loads(out.stdout)
    want = models.load(target).run("hello there world")
    assert data["model"] == target and data["token_ids"] == list(want.token_ids) and data["tokens"] == list(want.tokens)
    att = torch.tensor(data["attentions"])
    assert att.shape == want.attentions.shape and torch.equal(att, want.attentions)
    assert torch.allclose(att.sum(-1), torch.ones(att.shape[:-1]), atol=1e-5)


def test_bad_paths_and_devices_are_one_line_and_exit_2(tmp_path):
    bin_only = tmp_path / "pickled"
    bin_only.mkdir()
    (bin_only / "config.json").write_text('{"model_type": "llama"}')
    (bin_only / "pytorch_model.bin").write_bytes(b"not read")
    for args, fragment in [
        (("--model", "/no/such/folder"), "no such file or folder"),
        (("--model", str(bin_only)), "safetensors"),
        (("--model", str(CHECKPOINTS / "llama"), "--device", "cuda"), "not available here"),
        (("--model", "gpt5"), "--model: unknown model 'gpt5'"),
    ]:
        out = cli("--json", *args, "--prompt", "hi")
        assert out.returncode == 2 and out.stdout == "", (args, out.stderr)
        assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1, out.stderr
        assert fragment in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_path_problems_are_said_before_loading(tmp_path):
    assert path_problem("") and path_problem("   ")
    assert "does not exist" in path_problem(str(tmp_path / "nothing"))
    (tmp_path / "weights.bin").write_bytes(b"x")
    assert ".gguf" in path_problem(str(tmp_path / "weights.bin"))
    assert path_problem(str(CHECKPOINTS / "llama")) is None
    assert path_problem(str(CHECKPOINTS / "qwen2.gguf")) is None


async def test_the_palette_opens_a_checkpoint_and_every_pane_follows():
    app = AttnApp(prompt="the cat sat on the mat")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.explorer.action_open_model()
        await pilot.pause()
        assert isinstance(app.screen, OpenModelScreen)
        box = app.screen.query_one("#open-model-path", Input)
        box.value = str(CHECKPOINTS / "nothing-here")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, OpenModelScreen), "a bad path keeps the dialog open, with the reason"
        box.value = str(CHECKPOINTS / "qwen2")
        await pilot.press("enter")
        await settle(pilot)
        result = app.result
        want = models.load(str(CHECKPOINTS / "qwen2")).run("the cat sat on the mat")
        assert app.model == str(CHECKPOINTS / "qwen2") and result.token_ids == want.token_ids
        assert result.n_layers == want.n_layers and result.facts.architecture == "qwen2"
        grid = app.query_one("#attention-grid", MatrixView)
        assert grid.matrix is not None and grid.matrix.shape == (result.n_tokens, result.n_tokens)
        await pilot.press("escape", "4")  # the model's own queries, through the toy's key
        await pilot.pause()
        assert app.stage == "query" and grid.matrix.shape == (result.n_tokens, want.head_dim)
        await pilot.press("m")  # the model key cycles on, through the opened checkpoint
        await settle(pilot)
        assert app.model == "toy"


async def test_switching_away_cancels_a_load_in_progress(monkeypatch):
    import threading

    started, cancelled = threading.Event(), threading.Event()

    def slow_load(name, progress=None, cancel=None, device="cpu"):
        started.set()
        for step in range(200):
            progress(step / 200, f"reading tensor {step}")
            if cancel is not None and cancel.wait(0.02):
                cancelled.set()
                raise models.LoadCancelled()
        raise AssertionError("the load was never cancelled")

    monkeypatch.setattr(models, "load", slow_load)
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.explorer.source = "minilm"
        for _ in range(300):
            await pilot.pause(0.01)
            if started.is_set() and "%" in app.query_one("#attention-grid", MatrixView).message:
                break
        message = app.query_one("#attention-grid", MatrixView).message
        assert "█" in message or "░" in message, message  # a progress bar where the grid will be
        app.explorer.source = "toy"
        await settle(pilot)
        assert cancelled.wait(5), "switching back to the toy stops the load"
        assert app.model == "toy" and app.result is not None and not app.errors
