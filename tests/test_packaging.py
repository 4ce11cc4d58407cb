"""As users install CLI tools (issue 13, packaging): a wheel with everything in it, an `attn-tui` that runs
from it outside the clone, and `--version` / `--help` that answer before torch would load.

The wheel is built with `python -m build` (the test extra has it), without build isolation so that no
download is needed; the installed test puts it in a fresh venv with `pip install --no-deps` and lends that
venv this interpreter's packages (torch 2.13.0 and the rest) through a .pth line, since a bare `torch`
would pull a multi-GB build. What the full `pipx install .` gives was checked by hand (README, Install).
"""

from __future__ import annotations

import contextlib
import json
import os
import site
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "numpy", "textual", "rich", "safetensors", "tokenizers", "gguf")


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_answer_without_loading_torch(flag, tmp_path):
    code = (f"import sys\nfrom attn_tui.cli import main\ntry:\n    main([{flag!r}])\nexcept SystemExit as e:\n"
            f"    code = e.code\nheavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
            f"sys.stderr.write(repr((code, heavy)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert eval(out.stderr.splitlines()[-1]) == (0, []), out.stderr
    assert ("attn-tui 0.1.0" if flag == "--version" else "usage: attn-tui") in out.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("build", reason="the test extra installs build")
    out_dir = tmp_path_factory.mktemp("dist")
    # sdist first, then the wheel from the sdist: what `python -m build` does, so the sdist is checked too.
    built = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out_dir), str(ROOT)],
                           capture_output=True, text=True, timeout=300, cwd=out_dir)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert "deprecated" not in built.stdout + built.stderr, "the build warns: fix pyproject.toml"
    (path,) = out_dir.glob("attn_tui-*.whl")
    return path


def test_the_wheel_holds_every_module_the_stylesheet_and_the_command(wheel):  # about 5 s (the build)
    names = set(zipfile.ZipFile(wheel).namelist())
    source = {str(p.relative_to(ROOT)) for p in (ROOT / "attn_tui").rglob("*")
              if p.suffix in (".py", ".tcss", ".typed") and "__pycache__" not in p.parts}
    assert source <= names, f"missing from the wheel: {sorted(source - names)}"
    assert "attn_tui/app.tcss" in names and "attn_tui/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "scripts/"))]
    dist = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    entry = zipfile.ZipFile(wheel).read(f"{dist}/entry_points.txt").decode()
    assert "attn-tui = attn_tui.cli:main" in entry
    metadata = zipfile.ZipFile(wheel).read(f"{dist}/METADATA").decode()
    for requirement in ("torch>=2.2", "textual<9,>=8.2", "numpy>=1.24"):
        assert f"Requires-Dist: {requirement}" in metadata, requirement


def test_the_installed_command_runs_outside_the_clone(wheel, tmp_path):  # about 15 s
    # Nothing of the clone on the path: with it, pip would take the clone's egg-info for an installed attn-tui.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TEXTUAL_DRIVER", "COLUMNS", "LINES")}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=env)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
                             capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert "Successfully installed attn-tui" in install.stdout, install.stdout + install.stderr
    assert install.returncode == 0, install.stderr
    # The dependencies, lent from this interpreter (after the venv's own site-packages, so the wheel's
    # attn_tui is the one imported, never the clone's).
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, env=env).stdout.strip()
    Path(purelib, "lent.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    command = str(venv / "bin" / "attn-tui")
    where = subprocess.run([str(python), "-c", "import attn_tui, sys; print(attn_tui.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert where.stdout.startswith(purelib), where.stdout + where.stderr
    version = subprocess.run([command, "--version"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert version.stdout == "attn-tui 0.1.0\n", version.stderr
    result = subprocess.run([command, "--json", "--prompt", "a b", "--heads", "2", "--d-k", "4", "--d-v", "4"],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 0 and json.loads(result.stdout)["words"] == ["a", "b"], result.stderr
    _draws_and_quits(command, tmp_path, env)


def _draws_and_quits(command: str, cwd: Path, env: dict[str, str]) -> None:
    """The explorer starts on a pty (so its stylesheet loaded from the wheel), draws, and quits on ctrl+q."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.execve(command, [command, "--prompt", "a b"], {**env, "TERM": "xterm-256color"})
    output = b""
    try:
        end = time.monotonic() + 60
        while b"current" not in output and time.monotonic() < end:
            if select.select([fd], [], [], 0.2)[0]:
                output += os.read(fd, 65536)
        assert b"current" in output, output[-500:]
        os.write(fd, b"\x11")
        end = time.monotonic() + 20
        while time.monotonic() < end:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                assert os.waitstatus_to_exitcode(status) == 0
                return
            if select.select([fd], [], [], 0.1)[0]:
                with contextlib.suppress(OSError):
                    output += os.read(fd, 65536)
        raise AssertionError("ctrl+q did not quit")
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_exported_files_are_ignored_by_git(tmp_path):
    from attn_tui import export
    from attn_tui.attention import compute

    names = [path.name for _, path in export.plan(compute(), list(export.EXPORT_KINDS), export.Selection(), tmp_path)]
    names += ["attn-screen.svg", "attn-minilm-result.json", "attn-minilm-weights-layer1-head1.csv",
              ".attn-result.json.k2j3h4.tmp", "out/attn-result.npz"]
    for name in names:
        ignored = subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT, timeout=30)
        assert ignored.returncode == 0, f"{name} would show up in git status"
