"""The layers stay apart: the core never imports textual or rich, the widgets never import torch, no
module imports one that imports it back, and only the command exits the process.

Read from the source (every import statement, at the top or inside a function), so a lazy import
cannot slip past; plus one fresh interpreter that imports the core and finds no UI loaded.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "attn_tui"

CORE = ("config", "attention", "result", "stages", "sources", "compute", "session", "serialize", "argv", "export",
        "script", "text", "runtime", "models", "analysis", "report", "serve_guard")
"""Modules (and packages) with no screen: they run under `--json`, the tests and other programs."""
UI = ("app", "screens", "widgets", "commands", "messages", "compat", "frame_diff", "terminal_io", "display", "explain",
      "explain_flow", "colors")
"""The screen's side: textual and rich allowed, torch never imported (results arrive with their tensors)."""


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(path: Path) -> set[str]:
    """Every module `path` imports, wherever the import statement is."""
    found: set[str] = set()
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def layer_of(name: str) -> str | None:
    short = name.removeprefix("attn_tui.").split(".")[0]
    if short in CORE:
        return "core"
    if short in UI:
        return "ui"
    return None


def test_every_module_has_a_layer():
    unplaced = sorted(n for n in modules() if n not in ("attn_tui", "attn_tui.__main__", "attn_tui.cli",
                                                         "attn_tui.serve") and layer_of(n) is None)
    assert unplaced == [], "put each new module in CORE or UI"


@pytest.mark.parametrize("name", sorted(n for n in modules() if layer_of(n) == "core"))
def test_the_core_never_imports_textual_or_rich(name):
    bad = sorted(m for m in imports(modules()[name]) if m.split(".")[0] in ("textual", "rich", "textual_serve"))
    assert bad == [], f"{name} imports {bad}"


@pytest.mark.parametrize("name", sorted(n for n in modules() if layer_of(n) == "ui"))
def test_the_screen_never_imports_torch(name):
    bad = sorted(m for m in imports(modules()[name]) if m.split(".")[0] == "torch")
    assert bad == [], f"{name} imports {bad}"


def test_only_the_command_exits():
    """Library code raises; `cli.py` turns a refusal into one line and exit code 2. `runtime` owns the
    process's signal handlers, whose job is to end it with 128 + the signal."""
    for name, path in modules().items():
        if name in ("attn_tui.cli", "attn_tui.__main__", "attn_tui.runtime"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                assert not (isinstance(func, ast.Name) and func.id == "SystemExit"), f"{name} exits the process"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert not (node.func.attr == "exit" and isinstance(node.func.value, ast.Name)
                            and node.func.value.id == "sys"), f"{name} calls sys.exit"
        assert "attn_tui.cli" not in imports(path), f"{name} imports the command"


def test_no_import_circles():
    graph = {name: {m for m in imports(path) if m in modules() and m != name} for name, path in modules().items()}
    # A package's face re-exporting its parts is not a circle of its own making.
    for name in graph:
        face = modules()[name].name == "__init__.py"
        graph[name] = {m for m in graph[name] if not (face and m.startswith(name + "."))}

    def circle_from(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return path
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
        return None

    circles = {tuple(sorted(c)) for n in graph if (c := circle_from(n))}
    assert circles == set(), f"import circles: {sorted(circles)}"


def test_the_core_loads_without_any_ui():
    code = ("import sys, attn_tui.attention, attn_tui.sources, attn_tui.session, attn_tui.compute, "
            "attn_tui.export, attn_tui.stages, attn_tui.serialize, attn_tui.models; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'rich', 'textual_serve'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
