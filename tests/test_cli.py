"""`attn-tui --json` and the command's refusals, run as a real subprocess."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "attn_tui", *args], capture_output=True, text=True,
                          input=stdin, timeout=60)


def test_json_defaults_are_the_notebook():
    out = run("--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["token_ids"] == [0, 3, 2, 4, 5, 7, 9, 2, 8, 7]
    assert data["prompt"] == "Hello World I am an attention seeker I love attention"
    assert data["config"] == {"prompt": data["prompt"], "seed": 123, "vocab_size": 50000, "d_model": 3,
                              "d_k": 24, "d_v": 28, "heads": 1, "causal": False, "temperature": 1.0,
                              "vocab_mode": "seed"}
    assert data["embeddings"][0] == pytest.approx([0.3374, -0.1778, -0.3035], abs=5e-5)
    assert len(data["weights"]) == 1 and len(data["weights"][0]) == 10
    assert all(math.isclose(sum(row), 1.0, abs_tol=1e-5) for row in data["weights"][0])
    assert len(data["context"][0]) == 28
    for key in ("words", "vocab", "w_query", "w_key", "w_value", "query", "key", "value", "scores", "scaled"):
        assert key in data


def test_json_keeps_full_float32_precision():
    import torch

    from attn_tui.attention import compute

    data = json.loads(run("--json").stdout)
    assert torch.equal(torch.tensor(data["context"], dtype=torch.float32), compute().context)


def test_json_flags_set_the_state_and_masked_scaled_is_null():
    out = run("--json", "--prompt", "a b c", "--causal", "--heads", "2", "--d-k", "4", "--d-v", "6",
              "--vocab-mode", "dense", "--temperature", "0.5", "--seed", "7", "--vocab-size", "100",
              "--d-model", "5")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["config"]["heads"] == 2 and data["config"]["causal"] is True
    assert data["scaled"][0][0][1:] == [None, None]
    assert data["weights"][1][0][1:] == [0.0, 0.0]
    assert data["token_ids"] == [0, 1, 2]
    assert len(data["embeddings"][0]) == 5


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--d-k", "abc"], "--d-k: d_k = 'abc' is not a whole number"),
        (["--heads", "5"], "--heads: heads = 5 does not divide"),
        (["--prompt", "   "], "--prompt: prompt is empty"),
        (["--temperature", "nan"], "--temperature"),
        (["--vocab-size", "3"], "--vocab-size: vocab size = 3 is too small"),
        (["--bogus"], "unrecognized arguments"),
        (["--seed"], "expected one argument"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args, fragment):
    out = run("--json", *args)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert "Traceback" not in out.stderr


def test_without_a_terminal_it_says_so_and_exits():
    out = run(stdin="")
    assert out.returncode == 2
    assert "needs a terminal" in out.stderr
    assert out.stdout == ""


def test_version():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("attn-tui ")
