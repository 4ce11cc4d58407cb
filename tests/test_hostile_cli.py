"""Every bad value the command can be given: refused with exit 2 and one `error:` line naming the flag.

Most cases run `attn_tui.cli.main` in this process (torch is imported once); a handful run the real
`python -m attn_tui` as a subprocess, to prove the same holds with a real interpreter's streams.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from attn_tui.cli import main
from attn_tui.config import DEFAULTS, MAX_TABLE_CELLS, AttentionConfig, field_problems
from attn_tui.text import UNSAFE, scrub

MB = 1 << 20
WORDS_20K = " ".join(chr(97 + i % 26) for i in range(20_000))  # 40,000 characters
INT_FLAGS = ("--seed", "--vocab-size", "--d-model", "--d-k", "--d-v", "--heads")
DIM_FLAGS = ("--d-model", "--d-k", "--d-v", "--heads")

# (case id, extra args, flag the one line must name, a fragment of the line)
REFUSED = [
    ("prompt-empty", ["--prompt", ""], "--prompt", "empty"),
    ("prompt-blank", ["--prompt", " "], "--prompt", "empty"),
    ("prompt-whitespace", ["--prompt", "\t\n \u3000\u00a0 \r"], "--prompt", "empty"),
    ("prompt-20k-words", ["--prompt", WORDS_20K], "--prompt", "20,000 words: at most 4,096"),
    ("prompt-1MB", ["--prompt", "x" * MB], "--prompt", "1,048,576 characters: at most 100,000"),
    ("prompt-1MB-words", ["--prompt", "ab " * (MB // 3)], "--prompt", "characters: at most 100,000"),
    *((f"letters{flag}", [flag, "abc"], flag, "is not a whole number") for flag in INT_FLAGS),
    ("letters-mixed", ["--d-k", "2x4"], "--d-k", "'2x4' is not a whole number"),
    ("letters-temperature", ["--temperature", "warm"], "--temperature", "is not a number"),
    *((f"fraction{flag}", [flag, "1.5"], flag, "'1.5' is not a whole number") for flag in INT_FLAGS),
    *((f"empty{flag}", [flag, ""], flag, "is empty") for flag in INT_FLAGS),
    *((f"blank{flag}", [flag, "   "], flag, "is empty") for flag in INT_FLAGS),
    ("empty-temperature", ["--temperature", ""], "--temperature", "is not a number"),
    *((f"negative{flag}", [flag, "-1"], flag, "out of range") for flag in ("--vocab-size", *DIM_FLAGS)),
    ("negative-temperature", ["--temperature", "-1"], "--temperature", "out of range"),
    *((f"zero{flag}", [flag, "0"], flag, "out of range: allowed 1 to") for flag in ("--vocab-size", *DIM_FLAGS)),
    ("zero-temperature", ["--temperature", "0"], "--temperature", "out of range: allowed 0.0001 to 10000"),
    ("minus-zero-temperature", ["--temperature", "-0.0"], "--temperature", "out of range"),
    ("tiny-temperature", ["--temperature", "1e-300"], "--temperature", "out of range"),
    *((f"huge{flag}", [flag, "10000000"], flag, "10,000,000 is out of range") for flag in DIM_FLAGS),
    ("huge-vocab", ["--vocab-size", "10000001"], "--vocab-size", "allowed 1 to 10,000,000"),
    ("huge-seed", ["--seed", str(2**64)], "--seed", "out of range"),
    ("huge-negative-seed", ["--seed", str(-(2**63) - 1)], "--seed", "out of range"),
    ("5000-digit-seed", ["--seed", "9" * 5000], "--seed", "out of range"),
    ("5000-digit-d-k", ["--d-k", "-" + "9" * 5000], "--d-k", "out of range"),
    *((f"1e100{flag}", [flag, "1e100"], flag, "'1e100' is not a whole number") for flag in INT_FLAGS),
    ("1e100-temperature", ["--temperature", "1e100"], "--temperature", "1e+100 is out of range"),
    ("5000-digit-temperature", ["--temperature", "9" * 5000], "--temperature", "inf is out of range"),
    # `--temperature=-inf`: argparse would read a bare `-inf` as a flag (refused too, see below).
    *((f"temperature-{text}", [f"--temperature={text}"], "--temperature", "out of range")
      for text in ("nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e309")),
    ("temperature-bare-minus-inf", ["--temperature", "-inf"], "--temperature", "expected one argument"),
    ("hex-d-k", ["--d-k", "0x10"], "--d-k", "not a whole number"),
    ("hex-temperature", ["--temperature", "0x1p-2"], "--temperature", "not a number"),
    ("inner-space", ["--d-k", "2 4"], "--d-k", "not a whole number"),
    ("double-sign", ["--d-k", "--24"], "--d-k", "expected one argument"),
    ("sign-only", ["--heads", "+"], "--heads", "not a whole number"),
    ("underscore-edges", ["--d-model", "_3"], "--d-model", "not a whole number"),
    ("double-underscore", ["--vocab-size", "50__000"], "--vocab-size", "not a whole number"),
    ("heads-divide-d_k-not-d_v", ["--heads", "3"], "--heads", "heads = 3 does not divide d_v = 28"),
    ("heads-divide-d_v-not-d_k", ["--heads", "7"], "--heads", "heads = 7 does not divide d_k = 24"),
    ("heads-over-max", ["--heads", "128", "--d-k", "128", "--d-v", "128"], "--heads", "allowed 1 to 64"),
    ("vocab-one-too-small", ["--vocab-size", "9"], "--vocab-size",
     "'seeker' has id 9, so the vocab size must be at least 10"),
    ("vocab-one-too-small-dense", ["--vocab-mode", "dense", "--vocab-size", "7"], "--vocab-size",
     "'world' has id 7, so the vocab size must be at least 8"),
    ("table-over-ceiling", ["--vocab-size", "10000000", "--d-model", "4096"], "--vocab-size",
     "over the ceiling of 67,108,864 table cells (256 MiB)"),
    ("table-one-over-ceiling", ["--vocab-size", str(MAX_TABLE_CELLS // 4096 + 1), "--d-model", "4096"],
     "--vocab-size", "ceiling"),
    ("attention-over-ceiling", ["--prompt", " ".join(["w"] * 4000), "--heads", "4", "--d-k", "64", "--d-v", "64"],
     "--prompt", "over the ceiling of 16,777,216 attention cells"),
    ("vocab-mode-unknown", ["--vocab-mode", "bpe"], "--vocab-mode", "use seed or dense"),
    ("vocab-mode-empty", ["--vocab-mode", ""], "--vocab-mode", "use seed or dense"),
    ("escape-in-number", ["--d-k", "\x1b[2J"], "--d-k", "'\\x1b[2J' is not a whole number"),
    ("csi-in-vocab-mode", ["--vocab-mode", "\x9b31m"], "--vocab-mode", "'\\x9b31m' is unknown"),
    ("newline-in-number", ["--d-v", "2\n8"], "--d-v", "not a whole number"),
    ("nul-free-bell", ["--seed", "\x07"], "--seed", "not a whole number"),
    ("causal-with-value", ["--causal=yes"], "--causal", "ignored explicit argument"),
    ("unknown-flag", ["--bogus"], "--bogus", "unrecognized arguments"),
    ("missing-value", ["--seed"], "--seed", "expected one argument"),
    ("prompt-looks-like-a-flag", ["--prompt", "-x"], "--prompt", "expected one argument"),
    ("model-unknown", ["--model", "gpt"], "--model", "unknown model 'gpt'"),
]

# Accepted as a person means them: (id, args, the config fields the JSON must show)
ACCEPTED = [
    ("spaces", ["--d-k", " 24 ", "--temperature", " 0.5 "], {"d_k": 24, "temperature": 0.5}),
    ("underscores", ["--vocab-size", "50_000", "--seed", "1_2_3"], {"vocab_size": 50000, "seed": 123}),
    ("signs", ["--d-k", "+24", "--seed", "-7", "--temperature", "+2"], {"d_k": 24, "seed": -7, "temperature": 2.0}),
    ("leading-zeros", ["--d-v", "028", "--heads", "0002", "--seed=-0_07"], {"d_v": 28, "heads": 2, "seed": -7}),
    ("5000-leading-zeros", ["--d-model", "0" * 5000 + "5"], {"d_model": 5}),
    ("temperature-forms", ["--temperature", "1e-1"], {"temperature": 0.1}),
    ("temperature-underscore", ["--temperature", "1_0.5"], {"temperature": 10.5}),
    ("temperature-edges", ["--temperature", "0.0001"], {"temperature": 0.0001}),
    ("unicode-digits", ["--d-k", "\uff12\uff14", "--seed", "\u0661\u0662\u0663"], {"d_k": 24, "seed": 123}),
    ("vocab-exactly-enough", ["--vocab-size", "10"], {"vocab_size": 10}),
    ("vocab-mode-case", ["--vocab-mode", " Dense "], {"vocab_mode": "dense"}),
    ("heads-divide-both", ["--heads", "4"], {"heads": 4}),
    ("no-causal", ["--no-causal"], {"causal": False}),
    ("max-seed", ["--seed", str(2**64 - 1)], {"seed": 2**64 - 1}),
    ("min-seed", ["--seed", str(-(2**63))], {"seed": -(2**63)}),
    ("500-words", ["--prompt", " ".join(["w"] * 500)], {}),
    ("seed-10000000", ["--seed", "10000000"], {"seed": 10_000_000}),
]

UNICODE_PROMPTS = [
    ("emoji", "I ❤️ 🤖 attention 👨‍👩‍👧 🏳️‍🌈"),
    ("cjk", "我 爱 注意力 机制 我"),
    ("japanese", "注意 は すべて です"),
    ("rtl-hebrew", "אני אוהב תשומת לב"),
    ("rtl-arabic", "الانتباه هو كل ما تحتاجه"),
    ("combining", "café cafe\u0301 n\u0303 Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f"),
    ("zero-width", "a\u200bb c\u200dd \ufeffe \u2060f"),
    ("bidi-controls", "abc \u202eevil\u202c \u2066x\u2069"),
    ("mixed-scripts", "Hello 世界 مرحبا שלום 🌍"),
    ("odd-spaces", "one\u00a0two\u2003three\u3000four\u2028five"),
    ("control-chars", "clear \x1b[2J bell \x07 back\x08space del\x7f \x01\x02\x1f c1\x9b31m"),
    ("ansi-colour", "\x1b[31mred\x1b[0m \x1b]0;title\x07 \x1bPdcs\x1b\\"),
    ("surrogate", "bad\udcffbyte word"),
]


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(["--json", *args])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code, out: str, err: str, flag: str, fragment: str) -> None:
    assert code == 2, (code, err)
    assert out == "", "nothing on stdout"
    assert "Traceback" not in err
    lines = err.split("\n")
    assert len(lines) == 2 and lines[1] == "", f"exactly one line: {err!r}"
    line = lines[0]
    assert line.startswith("error: "), line
    assert flag in line, (flag, line)
    assert fragment in line, (fragment, line)
    assert len(line) < 400, "the one line stays readable"
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in line), f"control character in {line!r}"


@pytest.mark.parametrize(("args", "flag", "fragment"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_in_process(args, flag, fragment, capsys):
    assert_refused(*run_main(args, capsys), flag, fragment)


@pytest.mark.parametrize(("args", "want"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_accepted_as_meant(args, want, capsys):
    code, out, err = run_main(args, capsys)
    assert (code, err) == (0, "")
    config = json.loads(out)["config"]
    for field, value in want.items():
        assert config[field] == value, field


@pytest.mark.parametrize("prompt", [p for _, p in UNICODE_PROMPTS], ids=[n for n, _ in UNICODE_PROMPTS])
def test_any_text_is_a_prompt(prompt, capsys):
    code, out, err = run_main(["--prompt", prompt], capsys)
    assert (code, err) == (0, "")
    data = json.loads(out)
    prompt = scrub(prompt)  # an undecodable byte (a lone surrogate in argv) is U+FFFD, the one rule
    assert data["prompt"] == prompt
    assert data["words"] == prompt.split()
    assert len(data["token_ids"]) == len(prompt.split())
    assert data["vocab"] == {w.lower(): i for i, w in enumerate(sorted(prompt.split()))}
    # Escapes (controls, C1, bidi controls, separators) stay escaped in the JSON, whatever terminal it lands on.
    assert not UNSAFE.search(out.rstrip("\n")), ascii(out)


OVER_CEILING = [
    AttentionConfig(vocab_size=10_000_000, d_model=4096),
    AttentionConfig(vocab_size=MAX_TABLE_CELLS // 4096 + 1, d_model=4096),
    AttentionConfig(prompt=" ".join(["w"] * 4096), heads=64, d_k=4096, d_v=4096),
    AttentionConfig(prompt=WORDS_20K, d_k=4096, d_v=4096, d_model=4096),
    AttentionConfig(prompt="x" * MB, vocab_size=10_000_000, d_model=4096),
    AttentionConfig(d_model=10**12, d_k=10**12, d_v=10**12, vocab_size=10**12, heads=10**6),
]


@pytest.mark.parametrize("config", OVER_CEILING, ids=range(len(OVER_CEILING)))
def test_over_the_ceiling_is_refused_within_100_ms(config):
    from attn_tui.attention import ConfigError, compute

    field_problems(config)  # warm the tokenizer's imports and caches of unrelated configs
    started = time.perf_counter()
    problems = field_problems(config)
    assert time.perf_counter() - started < 0.1
    assert problems, "refused"
    assert any("ceiling" in str(p) or "at most" in str(p) or "out of range" in str(p) for p in problems)
    started = time.perf_counter()
    with pytest.raises(ConfigError):
        compute(config)  # validates before drawing a single table
    assert time.perf_counter() - started < 0.1


def test_defaults_and_the_ceilings_themselves_stay_accepted():
    assert field_problems(DEFAULTS) == []
    # (Validation only: --json of 4,096 words prints three 4096 × 4096 matrices, about 1 GB.)
    assert field_problems(AttentionConfig(prompt=" ".join(["w"] * 4096))) == []
    assert field_problems(AttentionConfig(vocab_size=MAX_TABLE_CELLS // 4096, d_model=4096)) == []
    assert field_problems(AttentionConfig(vocab_size=10_000_000, d_model=6)) == []


# -- the real command, in a real subprocess --------------------------------------------------------

SUBPROCESS_REFUSED = [
    (["--prompt", "   "], "--prompt", "empty"),
    (["--d-k", "1.5"], "--d-k", "not a whole number"),
    (["--temperature", "nan"], "--temperature", "out of range"),
    (["--seed", "9" * 5000], "--seed", "out of range"),
    # A single argv string is capped at 128 KiB by Linux (MAX_ARG_STRLEN), so 1 MB only in-process.
    (["--prompt", "x" * 120_000], "--prompt", "120,000 characters"),
    (["--prompt", WORDS_20K], "--prompt", "20,000 words"),
    (["--heads", "3"], "--heads", "does not divide d_v = 28"),
    (["--vocab-size", "10000000", "--d-model", "4096"], "--vocab-size", "ceiling"),
    (["--vocab-mode", "\x1b[2J"], "--vocab-mode", "unknown"),
]


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "attn_tui", "--json", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_real_subprocesses_refuse_with_one_line():
    # Started together: each pays the interpreter's start-up, not the others'. None imports torch.
    procs = [(_spawn(args), flag, fragment) for args, flag, fragment in SUBPROCESS_REFUSED]
    for proc, flag, fragment in procs:
        out, err = proc.communicate(timeout=60)
        assert_refused(proc.returncode, out.decode(), err.decode(), flag, fragment)


def test_real_subprocess_accepts_hostile_text_and_escapes_it():
    prompt = "clear \x1b[2J 我 ❤️ \u202eevil \x9b31m"
    proc = _spawn(["--prompt", prompt, "--d-k", " +0_24 "])
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (0, b"")
    assert b"\x1b" not in out and b"\xc2\x9b" not in out, "no escape reaches the terminal"
    data = json.loads(out)
    assert data["words"] == prompt.split() and data["config"]["d_k"] == 24


def test_invalid_utf8_in_argv_does_not_crash():
    proc = subprocess.Popen([sys.executable.encode(), b"-m", b"attn_tui", b"--json", b"--prompt", b"a\xffb c"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err
    assert proc.returncode == 0, err
    assert json.loads(out.decode("utf-8", "surrogateescape"))["words"][1] == "c"


def test_not_a_terminal_refuses_without_hanging():
    started = time.perf_counter()
    # A new session has no controlling terminal, so /dev/tty cannot be opened either (run from a
    # terminal, the app would otherwise rightly draw on it).
    out = subprocess.run([sys.executable, "-m", "attn_tui"], stdin=subprocess.DEVNULL, capture_output=True,
                         timeout=30, start_new_session=True)
    assert out.returncode == 2 and out.stdout == b""
    assert out.stderr.decode().startswith("error: attn-tui needs a terminal")
    assert time.perf_counter() - started < 30


@pytest.mark.parametrize(("closed", "args", "message"), [
    (0, [], "needs a terminal"),  # attn-tui <&-
    (1, [], "needs a terminal"),  # attn-tui >&-
    (1, ["--json"], "stdout is closed"),  # attn-tui --json >&-
    (2, ["--d-k", "x"], None),  # attn-tui --d-k x 2>&-: nowhere to say it, but still exit 2
])
def test_closed_standard_streams_are_refused_not_crashed(closed, args, message):
    import os

    out = subprocess.run([sys.executable, "-m", "attn_tui", *args], capture_output=True, timeout=30,
                         preexec_fn=lambda: os.close(closed), start_new_session=True)
    assert out.returncode == 2
    assert b"Traceback" not in out.stderr
    if message:
        assert out.stderr.decode().startswith("error: ") and message in out.stderr.decode()


# ── Writers and stderr: one rule for hostile and undecodable text (issue 12, items 6 and 15) ───────


def _run(args: list, **kwargs) -> subprocess.CompletedProcess[bytes]:
    """The real command, argv as given (bytes or str); a new session, so it never finds a terminal."""
    exe = [sys.executable.encode(), b"-m", b"attn_tui"] if any(isinstance(a, bytes) for a in args) else \
        [sys.executable, "-m", "attn_tui"]
    return subprocess.run([*exe, *args], capture_output=True, timeout=180, stdin=subprocess.DEVNULL,
                          start_new_session=True, **kwargs)


def _printable_line(data: bytes) -> str:
    text = data.decode("utf-8")  # strict: valid UTF-8
    assert not UNSAFE.search(text.rstrip("\n").replace("\n", " ")), f"raw escape on stderr: {text!r}"
    return text


def test_stderr_obeys_no_escape_in_a_path(tmp_path):
    folder = tmp_path / "res\x1b]2;PWNED\x07\u202e"
    out = _run(["--export", "json", "--export-dir", str(folder), "--prompt", "a b"])
    assert out.returncode == 0, out.stderr
    line = _printable_line(out.stderr)
    assert line.startswith("wrote ") and "␛]2;PWNED␇⟨202e⟩/attn-result.json" in line
    assert (folder / "attn-result.json").exists(), "the folder is the one named, escapes and all"
    again = _run(["--export", "json", "--export-dir", str(folder), "--prompt", "a b"])
    assert again.returncode == 2
    assert "exists; not overwriting" in _printable_line(again.stderr)
    script = _run(["--export-script", str(tmp_path / "s\x9b2J.py")])
    assert script.returncode == 0 and "s⟨009b⟩2J.py" in _printable_line(script.stderr)
    refused = _run(["--stage", "w\x1b]0;t\x07", "--export", "csv", "--export-dir", str(tmp_path)])
    assert refused.returncode == 2 and _printable_line(refused.stderr).startswith("error: --stage")


def test_json_escapes_bidi_and_c1_for_any_source():
    prompt = "hi \x1b]2;PWNED\x07 \x9b2J rlo\u202eabc lri\u2066x\u2069 \u2028 end"
    out = _run(["--json", "--prompt", prompt])
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode("utf-8")
    assert not UNSAFE.search(text.rstrip("\n")), "a raw control or bidi character in --json"
    assert json.loads(text)["prompt"] == prompt


@pytest.mark.parametrize("model", ["minilm"])  # smollm2's byte-level tokens are shown as <0x1B> by its tokenizer
def test_model_json_escapes_what_the_tokens_hold(model):
    from attn_tui import models

    if not models.available(model):
        pytest.skip(f"{model} is not installed")
    out = _run(["--json", "--model", model, "--prompt", "hi \x1b]2;PWNED\x07 \x9b2J rlo\u202eabc caf\udce9"])
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode("utf-8")
    assert not UNSAFE.search(text.rstrip("\n"))
    json.loads(text)


LATIN1_PROMPT = b"caf\xe9 au lait \xff"  # $'caf\xe9 au lait \xff': not UTF-8


def test_undecodable_bytes_are_u_fffd_in_every_writer(tmp_path):
    """One rule (README, 'Text'): every text flag's undecodable bytes become U+FFFD, as a UTF-8 decoder makes them."""
    want = "caf\ufffd au lait \ufffd"
    out = _run([b"--json", b"--prompt", LATIN1_PROMPT])
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.decode("utf-8"))["prompt"] == want
    written = _run([b"--export", b"json,csv,npz,grid,script", b"--export-dir", str(tmp_path).encode(),
                    b"--prompt", LATIN1_PROMPT])
    assert written.returncode == 0, written.stderr  # the CSV export failed: "can't encode '\udce9'"
    assert len(_printable_line(written.stderr).splitlines()) == 5
    assert json.loads((tmp_path / "attn-result.json").read_text(encoding="utf-8"))["prompt"] == want
    rows = list(csv.reader((tmp_path / "attn-weights-head1.csv").open(encoding="utf-8")))
    assert rows[0][1:] == ["0:caf\ufffd", "1:au", "2:lait", "3:\ufffd"]
    assert "0:caf\ufffd" in (tmp_path / "attn-weights-head1.svg").read_text(encoding="utf-8")
    with np.load(tmp_path / "attn-result.npz") as arrays:
        assert str(arrays["prompt"]) == want
    script = (tmp_path / "attn-script.py").read_text(encoding="utf-8")
    assert f"prompt = {want!r}" in script
    ran = subprocess.run([sys.executable, str(tmp_path / "attn-script.py")], capture_output=True, timeout=120)
    assert ran.returncode == 0 and json.loads(ran.stdout.decode("utf-8"))["prompt"] == want  # valid UTF-8
    refused = _run([b"--vocab-mode", b"d\xe9nse"])
    assert refused.returncode == 2 and "d\ufffdnse" in _printable_line(refused.stderr)


def test_a_file_name_keeps_its_bytes_and_is_shown_scrubbed(tmp_path):
    target = os.fsencode(tmp_path) + b"/caf\xe9.py"
    out = _run([b"--export-script", target])
    assert out.returncode == 0, out.stderr
    assert os.path.exists(target), "the file the user named, byte for byte"
    assert _printable_line(out.stderr) == f"wrote {tmp_path}/caf\ufffd.py\n"


def test_closed_stderr_does_not_stop_an_export(tmp_path):
    out = subprocess.run([sys.executable, "-m", "attn_tui", "--export", "json", "--export-dir", str(tmp_path)],
                         capture_output=True, timeout=60, preexec_fn=lambda: os.close(2))
    assert out.returncode == 0 and (tmp_path / "attn-result.json").exists()


# ── --export honours --model, or refuses (item 14) ────────────────────────────────────────────────


def test_export_honours_the_model(tmp_path):
    from attn_tui import models

    if not models.available("minilm"):
        pytest.skip("minilm is not installed")
    out = _run(["--export", "json,csv", "--model", "minilm", "--prompt", "the cat sat", "--head", "3",
                "--export-dir", str(tmp_path)])
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attn-minilm-result.json",
                                                          "attn-minilm-weights-layer1-head3.csv"]
    data = json.loads((tmp_path / "attn-minilm-result.json").read_text(encoding="utf-8"))
    assert data["model"] == "minilm" and data["tokens"][0] == "[CLS]"
    assert len(data["attentions"]) == 6 and len(data["attentions"][0]) == 12


@pytest.mark.parametrize("args", [["--export-script", "{dir}/s.py", "--model", "smollm2"],
                                  ["--export", "json,script", "--model", "minilm", "--export-dir", "{dir}"],
                                  ["--export", "script", "--model", "smollm2", "--export-dir", "{dir}"]],
                         ids=["export-script-smollm2", "json-and-script-minilm", "script-smollm2"])
def test_a_script_of_a_model_is_refused_and_nothing_written(tmp_path, args):
    from attn_tui import models

    args = [a.format(dir=tmp_path) for a in args]
    if "--export" in args and not models.available(args[args.index("--model") + 1]):
        pytest.skip("the model is not installed")
    out = _run(args)
    assert out.returncode == 2
    assert "the script recomputes the toy pipeline" in _printable_line(out.stderr)
    assert list(tmp_path.iterdir()) == []


# ── A kill during an export, a taken target (items 10 and 11) ─────────────────────────────────────

WORDS_2048 = " ".join(f"w{i}" for i in range(2048))
BIG_EXPORT = ["--prompt", WORDS_2048, "--heads", "4", "--d-k", "32", "--d-v", "32", "--vocab-size", "5000"]


@pytest.mark.parametrize("name", ["SIGKILL", "SIGTERM", "SIGHUP"])
def test_a_kill_during_an_export_leaves_no_truncated_file(tmp_path, name):
    import signal

    sig = getattr(signal, name)
    proc = subprocess.Popen([sys.executable, "-m", "attn_tui", "--export", "csv", "--export-dir", str(tmp_path),
                             *BIG_EXPORT], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    end = time.monotonic() + 120
    while time.monotonic() < end and proc.poll() is None:  # until the CSV (about 46 MB) is a few MB in
        written = [p for p in tmp_path.iterdir() if p.stat().st_size > 2_000_000]
        if written:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the export ended before it could be killed"
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    target = tmp_path / "attn-weights-head1.csv"
    assert not target.exists(), "a truncated file under the real name"
    if sig != signal.SIGKILL:  # an ordinary kill unwinds: the temporary file goes too
        assert proc.returncode == 128 + sig, (proc.returncode, err)
        assert list(tmp_path.iterdir()) == [], "the temporary file is left behind"
    again = _run(["--export", "csv", "--export-dir", str(tmp_path), "--prompt", "a b c"])
    assert again.returncode == 0, again.stderr  # not refused: nothing is in the way
    assert len(target.read_text(encoding="utf-8").splitlines()) == 4


def test_a_taken_target_touches_nothing_from_the_command(tmp_path):
    taken = tmp_path / "attn-weights-head1.csv"
    taken.write_text("mine\n")
    out = _run(["--export", "json,csv,npz", "--export-dir", str(tmp_path)])
    assert out.returncode == 2
    assert _printable_line(out.stderr) == f"error: {taken} exists; not overwriting\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [taken.name] and taken.read_text() == "mine\n"
