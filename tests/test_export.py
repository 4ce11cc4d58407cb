"""Export: every format written, read back and compared with the result; nothing overwritten unasked."""

from __future__ import annotations

import ast
import csv
import dataclasses
import json
import math
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attn_tui import export
from attn_tui.attention import compute
from attn_tui.cli import build_parser, config_from_args
from attn_tui.config import DEFAULTS, AttentionConfig, field_problems
from attn_tui.export import ExportExists
from attn_tui.serialize import MATRICES, dumps, result_to_dict
from attn_tui.stages import STAGE_BY_NAME

ROOT = Path(__file__).resolve().parents[1]

HARD = AttentionConfig(prompt="the cat saw the dog and the dog ran", heads=2, causal=True, vocab_mode="dense",
                       temperature=0.5, seed=7)
"""The brief's second config: heads 2, causal, dense vocab, temperature 0.5, another seed."""

ODD = AttentionConfig(prompt='-x  "quoted" it\'s a\\b\ttab\nnew é 注意 -x', seed=-5, vocab_size=20, d_model=5,
                      d_k=6, d_v=9, heads=3, causal=True, temperature=2.0, vocab_mode="seed")
"""Everything awkward at once: a leading dash, quotes, backslash, tab, newline, non-ASCII, a negative seed."""

CONFIGS = [DEFAULTS, HARD, ODD]
IDS = ["defaults", "hard", "odd"]


@pytest.fixture(params=CONFIGS, ids=IDS)
def result(request):
    assert not field_problems(request.param)
    return compute(request.param)


def as_f32(text: str) -> np.float32:
    return np.float32(float(text))


# ── JSON ─────────────────────────────────────────────────────────────────────────────────────


def test_json_round_trip_is_the_json_schema(result, tmp_path):
    path = export.export_json(result, tmp_path)
    assert path == tmp_path / "attn-result.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == json.loads(dumps(result_to_dict(result)))
    for name in MATRICES:
        back = torch.tensor(_nan_for_null(data[name]), dtype=torch.float32)
        want = getattr(result, name)
        finite = want.isfinite()
        assert torch.equal(back[finite], want[finite]), name
        assert back[~finite].isnan().all(), name  # masked −∞ is null in JSON


def _nan_for_null(data):
    if isinstance(data, list):
        return [_nan_for_null(x) for x in data]
    return math.nan if data is None else data


# ── CSV ──────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("stage", export.CSV_STAGES)
def test_csv_round_trip_every_stage_and_head(result, stage, tmp_path):
    """T × T stages are written a head at a time; so are Q, K, V and context (each head's slice of
    their columns) when there are several heads; the W matrices and the embeddings whole."""
    c = result.config
    per_head = stage in export.PER_HEAD or (stage in ("query", "key", "value", "context") and c.heads > 1)
    heads = range(c.heads) if per_head else [0]
    for head in heads:
        (path,) = export.export_csv(result, stage, head, tmp_path)
        name = f"attn-{stage}-head{head + 1}.csv" if per_head else f"attn-{stage}.csv"  # heads from 1
        assert path.name == name
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        spec = STAGE_BY_NAME.get(stage)
        tensor = None if spec is not None and spec.derived else getattr(result, stage)
        if tensor is None:  # value-weighted, rollout (issue 16): computed from the result when asked for
            want = result.stage_tensor(stage, 0, head).numpy()
        elif stage in export.PER_HEAD:
            want = tensor[head].numpy()
        elif per_head:
            width = tensor.shape[1] // c.heads
            want = tensor[:, head * width:(head + 1) * width].numpy()
        else:
            want = tensor.numpy()
        values = np.array([[as_f32(cell) for cell in row[1:]] for row in body], dtype=np.float32)
        assert values.shape == want.shape
        assert np.array_equal(values, want), f"{stage} head {head}"
        positioned = [f"{i}:{w}" for i, w in enumerate(result.words)]
        if stage.startswith("w_"):
            assert [row[0] for row in body] == [f"d{i}" for i in range(c.d_model)]
        else:
            assert [row[0] for row in body] == positioned
        if spec is not None and spec.square:
            assert header[1:] == positioned
        else:
            assert header[1:] == [f"d{j}" for j in range(want.shape[1])]


def test_csv_masked_cells_are_minus_inf_and_read_back(tmp_path):
    r = compute(HARD)
    (path,) = export.export_csv(r, "scaled", 1, tmp_path)
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))[1:]
    assert rows[0][2:] == ["-inf"] * (r.n_tokens - 1)
    assert rows[-1][1:].count("-inf") == 0
    assert float(rows[0][2]) == -math.inf


def test_csv_every_head_when_head_is_none(tmp_path):
    r = compute(HARD)
    paths = export.export_csv(r, "weights", None, tmp_path)
    assert [p.name for p in paths] == ["attn-weights-head1.csv", "attn-weights-head2.csv"]


def test_csv_refuses_unknown_stage_and_head(tmp_path):
    r = compute()
    with pytest.raises(ValueError, match="unknown stage"):
        export.export_csv(r, "softmax", 0, tmp_path)
    with pytest.raises(ValueError, match="head 1 is out of range"):
        export.export_csv(r, "weights", 1, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_csv_numbers_are_the_shortest_float32_text(tmp_path):
    (path,) = export.export_csv(compute(), "embeddings", 0, tmp_path)
    first = list(csv.reader(path.open(encoding="utf-8")))[1]
    assert first[0] == "0:Hello"
    exact = float(compute().embeddings[0, 0])  # the float32 widened to a double: 0.3373701870441437
    assert first[1] == "0.3373702" and float(first[1]) != exact and np.float32(first[1]) == np.float32(exact)


# ── NumPy ────────────────────────────────────────────────────────────────────────────────────


def test_npz_round_trip(result, tmp_path):
    path = export.export_npz(result, tmp_path)
    assert path.name == "attn-result.npz"
    with np.load(path, allow_pickle=False) as data:
        for name in MATRICES:
            assert np.array_equal(data[name], getattr(result, name).numpy()), name
            assert data[name].dtype == np.float32
        assert data["words"].tolist() == list(result.words)
        assert data["token_ids"].tolist() == list(result.token_ids)
        vocab = zip(data["vocab_words"].tolist(), data["vocab_ids"].tolist(), strict=True)
        assert dict(vocab) == dict(result.vocab)
        assert str(data["prompt"]) == result.config.prompt
        assert json.loads(str(data["config"])) == json.loads(dumps(result_to_dict(result)))["config"]


# ── SVG ──────────────────────────────────────────────────────────────────────────────────────

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("stage", ["weights", "scaled", "scores", "context", "w_value", "embeddings"])
def test_svg_grid_round_trip(result, stage, tmp_path):
    head = result.config.heads - 1
    path = export.export_svg_grid(result, stage, head, tmp_path)
    root = ET.parse(path).getroot()  # well-formed XML, whatever the prompt held
    assert root.tag == f"{SVG}svg" and float(root.get("width")) > 100
    cells = [r for r in root.iter(f"{SVG}rect") if r.get("data-value") is not None]
    # One head of a per-head stage (context: the head's slice of the columns), the rest whole.
    want = (result.embeddings if stage == "embeddings" else result.stage_tensor(stage, 0, head)).numpy()
    values = np.array([as_f32(r.get("data-value")) for r in cells], dtype=np.float32).reshape(want.shape)
    assert np.array_equal(values, want)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    if stage in export.PER_HEAD:
        for i, w in enumerate(result.words):  # long labels are cut with an ellipsis
            assert any(t and t.startswith(f"{i}:{w}"[:17]) for t in texts), w
    masked = [r for r in cells if r.get("data-masked") == "true"]
    if stage in ("weights", "scaled") and result.config.causal:
        t = result.n_tokens
        assert len(masked) == t * (t - 1) // 2
        assert "masked" in texts
    else:
        assert masked == []
    fills = {r.get("fill") for r in cells if r.get("data-masked") is None}
    assert len(fills) > 1  # coloured by value, not one flat colour


def test_svg_names_and_legend(tmp_path):
    r = compute()
    path = export.export_svg_grid(r, "weights", 0, tmp_path)
    assert path.name == "attn-weights-head1.svg"
    root = ET.parse(path).getroot()
    assert root.find(f"{SVG}defs/{SVG}linearGradient") is not None
    assert any(t.text == "0" for t in root.iter(f"{SVG}text"))  # the sequential scale starts at 0
    assert "<script" not in path.read_text(encoding="utf-8")


def test_svg_escapes_markup_in_words(tmp_path):
    r = compute(AttentionConfig(prompt="<b>bold</b> & \x1b[2J done"))
    path = export.export_svg_grid(r, "weights", 0, tmp_path)
    text = path.read_text(encoding="utf-8")
    ET.fromstring(text.encode("utf-8"))
    assert "<b>" not in text and "&lt;b&gt;" in text and "\x1b" not in text


# ── Overwriting ──────────────────────────────────────────────────────────────────────────────

WRITERS = {
    "json": lambda r, d, **kw: [export.export_json(r, d, **kw)],
    "csv": lambda r, d, **kw: export.export_csv(r, "weights", 0, d, **kw),
    "npz": lambda r, d, **kw: [export.export_npz(r, d, **kw)],
    "svg": lambda r, d, **kw: [export.export_svg_grid(r, "weights", 0, d, **kw)],
    "script": lambda r, d, **kw: [export.export_script(r.config, d, **kw)],
}


@pytest.mark.parametrize("kind", WRITERS)
def test_nothing_is_overwritten_unless_asked(kind, tmp_path):
    first, second = compute(), compute(HARD)
    write = WRITERS[kind]
    (path,) = write(first, tmp_path)
    before = path.read_bytes()
    with pytest.raises(ExportExists) as caught:
        write(second, tmp_path)
    assert isinstance(caught.value, FileExistsError)
    assert str(path) in str(caught.value) and caught.value.path == path
    assert path.read_bytes() == before
    (again,) = write(second, tmp_path, overwrite=True)
    assert again == path and path.read_bytes() != before


def test_export_makes_the_directory(tmp_path):
    target = tmp_path / "figures" / "attention"
    path = export.export_json(compute(), target)
    assert path.parent == target and path.exists()


# ── The command line ─────────────────────────────────────────────────────────────────────────


def shell_words(line: str) -> list[str]:
    """The words a shell reads from `line`: shlex for plain quoting, bash itself for `$'…'` words."""
    if "$'" not in line:
        return shlex.split(line)
    import os

    out = subprocess.run(["bash", "-c", "printf '%s\\0' " + line], capture_output=True, timeout=30,
                         env={**os.environ, "LC_ALL": "C.UTF-8"})
    assert out.returncode == 0, out.stderr
    return out.stdout.decode("utf-8").split("\0")[:-1]


def parse_command(line: str) -> AttentionConfig:
    assert line.isprintable(), f"the command line obeys nothing when shown: {line!r}"
    argv = shell_words(line)
    assert argv[0] == "attn-tui"
    return config_from_args(build_parser().parse_args(argv[1:]))


def test_command_line_defaults_and_example():
    assert export.command_line(DEFAULTS) == "attn-tui"
    config = DEFAULTS.replace(prompt="a b", heads=2, causal=True)
    assert export.command_line(config) == "attn-tui --prompt 'a b' --heads 2 --causal"
    assert export.command_line(DEFAULTS, model="minilm") == "attn-tui --model minilm"


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_command_line_round_trips(config):
    assert parse_command(export.command_line(config)) == config


words = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),  # argv holds no NUL
                min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    prompt=st.lists(words, min_size=1, max_size=6).map(" ".join).filter(lambda p: p.split()),
    seed=st.integers(-(1 << 63), (1 << 64) - 1),
    heads=st.sampled_from([1, 2, 4]),
    causal=st.booleans(),
    temperature=st.floats(1e-4, 1e4),
    mode=st.sampled_from(["seed", "dense"]),
)
def test_command_line_round_trips_any_state(prompt, seed, heads, causal, temperature, mode):
    config = AttentionConfig(prompt=prompt, seed=seed, heads=heads, causal=causal, temperature=temperature,
                             d_k=8, d_v=8, vocab_mode=mode)
    assert not field_problems(config)
    assert parse_command(export.command_line(config)) == config


# ── The reproducible script ──────────────────────────────────────────────────────────────────


def run_json(config: AttentionConfig) -> dict:
    out = subprocess.run([sys.executable, "-m", "attn_tui", "--json", *export.command_flags(config)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def run_script(path: Path) -> dict:
    # From another directory, without the project on the path: the script must stand alone.
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120,
                         cwd=path.parent, env=_env_without_project())
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _env_without_project() -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def assert_close(a, b, path="$"):
    """Same structure, equal non-numbers, numbers within 1e-6."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), path
        for key in a:
            assert_close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool) and isinstance(b, (int, float)):
        assert abs(a - b) <= 1e-6, f"{path}: {a} != {b}"
    else:
        assert a == b and type(a) is type(b), f"{path}: {a!r} != {b!r}"


@pytest.mark.parametrize("config", [DEFAULTS, HARD], ids=["defaults", "hard"])
def test_script_prints_the_same_json_as_the_app(config, tmp_path):
    path = export.export_script(config, tmp_path)
    assert path.name == "attn-script.py"
    got = run_script(path)
    want = run_json(config)
    assert_close(got, want)
    assert got == want  # in practice the numbers are exactly equal


def test_script_handles_an_awkward_prompt(tmp_path):
    config = ODD.replace(prompt=ODD.prompt + ' """ \x00 \u2028 end\\')
    assert not field_problems(config)
    path = export.export_script(config, tmp_path)
    assert "\x00" not in path.read_text(encoding="utf-8")
    got = run_script(path)
    assert got == json.loads(dumps(result_to_dict(compute(config))))


def exec_script(config: AttentionConfig) -> dict:
    """Run the script's source in this process (fast enough for a property test)."""
    import contextlib
    import io

    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")  # the script writes UTF-8 whatever stdout's encoding
    with contextlib.redirect_stdout(out):
        exec(compile(export.script_source(config), "attn-script.py", "exec"), {"__name__": "__main__"})
    out.flush()
    return json.loads(out.buffer.getvalue().decode("utf-8"))


@settings(max_examples=40, deadline=None)
@given(
    prompt=st.lists(st.sampled_from(["Hello", "hello", "World", "I", "am", "an", "attention", "é", "x\x1b"]),
                    min_size=1, max_size=12).map(" ".join),
    seed=st.integers(-(1 << 63), (1 << 64) - 1),
    d_model=st.integers(1, 6),
    head_dim=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 5)),
    causal=st.booleans(),
    temperature=st.sampled_from([1.0, 0.5, 2, 1e-4, 3.7]),
    mode=st.sampled_from(["seed", "dense"]),
)
def test_script_matches_the_backend_for_any_state(prompt, seed, d_model, head_dim, causal, temperature, mode):
    heads, hk, hv = head_dim[0], head_dim[1], head_dim[2]
    config = AttentionConfig(prompt=prompt, seed=seed, vocab_size=64, d_model=d_model, d_k=heads * hk,
                             d_v=heads * hv, heads=heads, causal=causal, temperature=temperature,
                             vocab_mode=mode)
    assert not field_problems(config)
    assert exec_script(config) == json.loads(dumps(result_to_dict(compute(config))))


def test_script_imports_torch_and_the_standard_library_only():
    source = export.script_source(HARD)
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported == {"json", "math", "sys", "torch", "torch.nn.functional"}
    assert "attn_tui" not in source


def test_script_reads_like_the_notebook():
    source = export.script_source(HARD)
    for step in ("prompt = 'the cat saw", "seed = 7", "heads = 2", "causal = True", "temperature = 0.5",
                 "vocab_mode = 'dense'", "torch.Generator().manual_seed(seed)", ".normal_(generator=g)",
                 "torch.rand(d_model, d_k, generator=g)", "query = embeddings @ w_query",
                 "scores = q @ k.transpose(-2, -1)", "math.sqrt(hk) * temperature",
                 'masked_fill(mask, float("-inf"))',
                 "F.softmax(scaled, dim=-1)", "context = (att @ v)"):
        assert step in source, step
    assert "attn-tui --prompt 'the cat saw the dog and the dog ran'" in source  # how to reopen it
    comments = [line for line in source.splitlines() if line.lstrip().startswith("# ──")]
    assert len(comments) >= 10  # one commented block per step


# ── attn-tui --export-script ─────────────────────────────────────────────────────────────────


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "attn_tui", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_export_script_cli(tmp_path):
    target = tmp_path / "attention.py"
    flags = ["--prompt", "a b c", "--heads", "2", "--d-k", "4", "--d-v", "6", "--causal"]
    out = cli("--export-script", str(target), *flags)
    assert out.returncode == 0, out.stderr
    assert out.stderr == f"wrote {target}\n" and out.stdout == ""
    config = parse_command(shlex.join(["attn-tui", *flags]))
    assert target.read_text(encoding="utf-8") == export.script_source(config, "attention.py")
    assert run_script(target) == json.loads(dumps(result_to_dict(compute(config))))

    before = target.read_bytes()
    again = cli("--export-script", str(target), "--heads", "1")
    assert again.returncode == 2
    assert again.stderr == f"error: {target} exists; not overwriting\n" and again.stdout == ""
    assert target.read_bytes() == before


def test_export_script_cli_unwritable_directory(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "x.py"
    out = cli("--export-script", str(target))
    assert out.returncode == 2
    assert out.stderr.startswith(f"error: cannot write {target}") and out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr and not target.exists()


def test_export_script_cli_bad_flag_writes_nothing(tmp_path):
    target = tmp_path / "x.py"
    out = cli("--export-script", str(target), "--heads", "5")
    assert out.returncode == 2 and out.stderr.startswith("error: --heads") and not target.exists()


# ── Real-model results ─────────────────────────────────────────────────────────────────────────


@pytest.fixture
def model_result():
    from attn_tui.models import ModelFacts, ModelResult

    g = torch.Generator().manual_seed(0)
    att = torch.rand(2, 3, 4, 4, generator=g).softmax(-1)  # (layers, heads, T, T)
    q, k, v = (torch.randn(2, 3, 4, 8, generator=g) for _ in range(3))  # (layers, heads, T, d)
    facts = ModelFacts(name="minilm", title="MiniLM", architecture="bert", model_type="bert", path="/x", n_layers=2,
                       n_heads=3, n_kv_heads=3, head_dim=8, hidden=16, vocab_size=100, dtype="float32",
                       causal=False, max_tokens=512, limit_reason="", can_generate=False)
    return ModelResult(model="minilm", prompt="hi there", tokens=("[CLS]", "hi", "there", "[SEP]"),
                       token_ids=(101, 7632, 2045, 102), special=(True, False, False, True),
                       offsets=(None, (0, 2), (3, 8), None), embeddings=torch.randn(4, 16, generator=g),
                       attentions=att, queries=q, keys=k, values=v, value_norms=v.norm(dim=-1),
                       scale=8 ** -0.5, causal=False, facts=facts)


def test_model_result_exports(model_result, tmp_path):
    path = export.export_json(model_result, tmp_path)
    assert path.name == "attn-minilm-result.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["tokens"] == list(model_result.tokens)
    assert torch.equal(torch.tensor(data["attentions"]), model_result.attentions)

    (csv_path,) = export.export_csv(model_result, "weights", 2, tmp_path, layer=1)
    assert csv_path.name == "attn-minilm-weights-layer2-head3.csv"  # layer 1 and head 2 from 0, as on screen
    rows = list(csv.reader(csv_path.open(encoding="utf-8")))
    assert rows[0][1:] == ["0:[CLS]", "1:hi", "2:there", "3:[SEP]"]
    values = np.array([[as_f32(x) for x in row[1:]] for row in rows[1:]], dtype=np.float32)
    assert np.array_equal(values, model_result.attentions[1, 2].numpy())

    (scores_path,) = export.export_csv(model_result, "scores", 0, tmp_path, layer=0)
    rows = list(csv.reader(scores_path.open(encoding="utf-8")))
    values = np.array([[as_f32(x) for x in row[1:]] for row in rows[1:]], dtype=np.float32)
    assert np.allclose(values, (model_result.queries[0, 0] @ model_result.keys[0, 0].T).numpy())

    npz = export.export_npz(model_result, tmp_path)
    with np.load(npz, allow_pickle=False) as arrays:
        assert np.array_equal(arrays["attentions"], model_result.attentions.numpy())
        assert arrays["tokens"].tolist() == list(model_result.tokens)
    svg = export.export_svg_grid(model_result, "weights", 0, tmp_path, layer=-1)
    assert svg.name == "attn-minilm-weights-layer2-head1.svg"
    ET.parse(svg)
    with pytest.raises(ValueError, match="has no stage 'w_query'"):
        export.export_csv(model_result, "w_query", 0, tmp_path)
    with pytest.raises(ValueError, match="the script recomputes the toy pipeline"):
        export.export(model_result, ["script"], export.Selection(), tmp_path)


# ── Import hygiene ───────────────────────────────────────────────────────────────────────────


def test_export_and_serve_import_neither_textual_nor_rich():
    code = ("import sys, attn_tui.export, attn_tui.script, attn_tui.serve; "
            "print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('textual', 'rich', 'textual_serve')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_failed_overwrite_keeps_the_old_file(tmp_path, monkeypatch):
    path = export.export_npz(compute(), tmp_path)
    before = path.read_bytes()

    def broken(file, array, **kwargs):
        file.write(b"half an array")
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", broken)
    with pytest.raises(OSError, match="disk full"):
        export.export_npz(compute(HARD), tmp_path, overwrite=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    with pytest.raises(OSError, match="disk full"):
        export.export_npz(compute(HARD), tmp_path / "new")
    assert list((tmp_path / "new").iterdir()) == []  # no half file either


# ── All or nothing (issue 12, items 10 and 11 and their kin) ──────────────────────────────────────


def test_a_taken_target_touches_nothing(tmp_path):
    """`--export json,csv,npz` with the CSV present: refused before anything is written."""
    result = compute(HARD)
    csv_path = tmp_path / "attn-weights-head1.csv"
    csv_path.write_text("mine\n")
    with pytest.raises(ExportExists) as refused:
        export.export(result, ["json", "csv", "npz"], export.Selection(), tmp_path)
    assert refused.value.path == csv_path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attn-weights-head1.csv"]
    assert csv_path.read_text() == "mine\n"


def test_a_name_taken_while_writing_undoes_the_request(tmp_path, monkeypatch):
    """Between the check and the write another program makes the CSV: the files this request had made go."""
    from attn_tui.export import formats

    real = formats._write_npz

    def npz_then_someone_writes_the_csv(result, selection, name, out):
        real(result, selection, name, out)
        (tmp_path / "attn-weights-head1.csv").write_text("theirs\n")

    monkeypatch.setattr(formats, "EXPORT_BY_KIND", {**formats.EXPORT_BY_KIND, "npz": dataclasses.replace(
        formats.EXPORT_BY_KIND["npz"], write=npz_then_someone_writes_the_csv)})
    with pytest.raises(ExportExists):
        export.export(compute(HARD), ["json", "npz", "csv"], export.Selection(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attn-weights-head1.csv"], "json and npz undone"
    assert (tmp_path / "attn-weights-head1.csv").read_text() == "theirs\n", "theirs untouched"


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt(), SystemExit(143)])
def test_a_failure_or_a_signal_mid_request_leaves_nothing(tmp_path, monkeypatch, error):
    from attn_tui.export import formats

    def half_then(result, selection, name, out):
        out.write("a,b\n1,")
        raise error

    monkeypatch.setattr(formats, "EXPORT_BY_KIND", {**formats.EXPORT_BY_KIND, "csv": dataclasses.replace(
        formats.EXPORT_BY_KIND["csv"], write=half_then)})
    with pytest.raises(type(error)):
        export.export(compute(HARD), ["json", "csv"], export.Selection(), tmp_path)
    assert list(tmp_path.iterdir()) == [], "no half file, no temporary file, and the JSON undone"


# ── Text that reaches a file is printable (issue 12, items 6 and 15) ─────────────────────────────

HOSTILE_WORDS = "hi \x1b]2;PWNED\x07 \x1b]52;c;aGk=\x07 clr\x1b[2J c1\x9b31m rlo\u202eabc lri\u2066x\u2069 caf\udce9"


def assert_no_unsafe(text: str, where: str) -> None:
    from attn_tui.text import UNSAFE

    for n, line in enumerate(text.split("\n")):
        found = UNSAFE.search(line)
        assert not found, f"{where}, line {n}: raw {found.group()!r} in {line[:120]!r}"


def test_every_written_file_is_printable_and_utf8(tmp_path):
    result = compute(AttentionConfig(prompt=HOSTILE_WORDS, heads=2, d_k=4, d_v=4))
    paths = export.export(result, ["json", "csv", "grid", "script"], export.Selection("weights", 0, None), tmp_path)
    assert len(paths) == 5
    for path in paths:
        text = path.read_bytes().decode("utf-8")  # strict: an undecodable byte is U+FFFD, never a surrogate
        assert_no_unsafe(text, path.name)
    rows = list(csv.reader((tmp_path / "attn-weights-head1.csv").open(encoding="utf-8")))
    assert rows[0][2] == "1:␛]2;PWNED␇" and rows[0][-1] == "7:caf\ufffd"
    data = json.loads((tmp_path / "attn-result.json").read_text(encoding="utf-8"))
    assert data["words"][1] == "\x1b]2;PWNED\x07" and data["words"][-1] == "caf\ufffd"  # JSON: exact, escaped
    ET.parse(tmp_path / "attn-weights-head1.svg")


def test_the_script_prints_printable_utf8_whatever_the_locale(tmp_path):
    path = export.export_script(AttentionConfig(prompt=HOSTILE_WORDS), tmp_path)
    source = path.read_text(encoding="utf-8")
    assert_no_unsafe(source, "the script")
    assert "attn-tui --prompt $'hi \\x1b]2;PWNED\\x07" in source, "the docstring's command line, spelled out"
    out = subprocess.run([sys.executable, str(path)], capture_output=True, timeout=120, cwd=tmp_path,
                         env={**_env_without_project(), "PYTHONIOENCODING": "latin-1", "LC_ALL": "C"})
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode("utf-8")
    assert_no_unsafe(text.rstrip("\n"), "the script's output")
    assert json.loads(text)["words"][-1] == "caf\ufffd"


# ── Links planted by someone who can write the folder (issue 12, items 4 and 5) ───────────────────


@pytest.mark.parametrize("kind", ["json", "npz", "csv", "grid", "script"])
def test_no_export_writes_through_a_planted_link(kind, tmp_path):
    """The old overwrite wrote `.NAME.<pid>.tmp` and followed a link planted there; a link at the name
    itself must be refused (no overwrite) or replaced (overwrite), never written through."""
    import os

    victim = tmp_path / "victim"
    victim.write_text("precious")
    out = tmp_path / "out"
    result = compute(HARD)
    (path,) = export.export(result, [kind], export.Selection("weights", 0, 0), out)
    (out / f".{path.name}.{os.getpid()}.tmp").symlink_to(victim)  # the old temporary file's name
    export.export(compute(), [kind], export.Selection("weights", 0, 0), out, overwrite=True)
    assert victim.read_text() == "precious"
    path.unlink()
    path.symlink_to(victim)  # a link at the export's own name
    with pytest.raises(ExportExists):
        export.export(result, [kind], export.Selection("weights", 0, 0), out)
    export.export(result, [kind], export.Selection("weights", 0, 0), out, overwrite=True)
    assert victim.read_text() == "precious", "written through the link"
    assert not path.is_symlink() and path.stat().st_size > 0
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".tmp")) == [path.name]


async def test_the_screen_export_goes_through_the_one_writer(tmp_path):
    """`e s` wrote attn-screen.svg through a link planted at that name, without asking."""
    from textual.widgets import Input

    from attn_tui.app import AttnApp
    from attn_tui.screens.export import ConfirmOverwrite
    from tests.scenarios import settle

    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "attn-screen.svg").symlink_to(victim)
    app = AttnApp(prompt="a b", export_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.set_focus(None)
        await pilot.press("escape", "e")
        await pilot.pause()
        assert not isinstance(app.focused, Input)
        await pilot.press("s")
        for _ in range(50):
            await pilot.pause(0.05)
            if isinstance(app.screen, ConfirmOverwrite):
                break
        assert isinstance(app.screen, ConfirmOverwrite), "it did not ask before replacing the link"
        assert victim.read_text() == "precious"
        await pilot.press("y")
        for _ in range(50):
            await pilot.pause(0.05)
            if not (tmp_path / "attn-screen.svg").is_symlink():
                break
    assert victim.read_text() == "precious", "written through the link"
    svg = tmp_path / "attn-screen.svg"
    assert not svg.is_symlink() and svg.read_text(encoding="utf-8").lstrip().startswith("<svg")
