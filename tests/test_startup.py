"""Start-up costs (issue 17): what the app does between its first frame and the first computation."""

from __future__ import annotations

from attn_tui.app import AttnApp
from tests.scenarios import settle


async def test_a_resize_restyles_the_screen_only_when_the_layout_changes(monkeypatch):
    """A restyle of the whole screen costs about 145 ms with every pane mounted. Headless start-up sends the
    screen three resizes of the same size right after the first frame; each restyled everything, and the
    first computation (importing torch) waited behind them, 0.7 s after the first frame."""
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        restyles = []
        original = app.stylesheet.update_nodes

        def update_nodes(nodes, animate=False):
            restyles.append(len(list(nodes)))
            return original(nodes, animate)

        monkeypatch.setattr(app.stylesheet, "update_nodes", update_nodes)
        await pilot.resize_terminal(121, 40)  # the same layout (wide): nothing to restyle
        await pilot.pause()
        assert restyles == []
        await pilot.resize_terminal(80, 24)  # narrow: one restyle of the screen's tree
        await pilot.pause()
        assert len(restyles) == 1 and restyles[0] > 50
        assert app.screen.has_class("-narrow")


async def test_torch_starts_loading_once_the_first_frame_is_out(monkeypatch):
    """The compute thread (whose first act is importing torch) starts right after the first frame is written,
    not after the layout has settled and the first request is made."""
    from attn_tui.compute import ComputeService
    from attn_tui.screens.thinking import ThinkingActions

    order: list[str] = []
    start, first_request = ComputeService.start, ThinkingActions.first_request
    monkeypatch.setattr(ComputeService, "start", lambda self: (order.append("start"), start(self))[1])
    monkeypatch.setattr(ThinkingActions, "first_request",
                        lambda self: (order.append("request"), first_request(self))[1])
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert order[:2] == ["start", "request"]
        assert app.explorer.result is not None


LOAD_LIBRARY = """
import sys, threading
from attn_tui import runtime
loading = threading.Thread(target=runtime.load_torch_library)
loading.start()
spins = 0
while loading.is_alive():  # this thread runs while the library loads: the interpreter lock is free
    spins += 1
assert "torch" not in sys.modules, "no Python of torch runs"
maps = open("/proc/self/maps").read()
assert "libtorch_cpu.so" in maps, "the library is mapped"
import torch
print(spins, float(torch.ones(3).sum()))
"""


def test_torch_library_loads_before_torch_and_torch_then_imports():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", LOAD_LIBRARY], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    spins, total = done.stdout.split()
    assert total == "3.0"
    # Loading takes 0.3 s here; with the lock held (ctypes.CDLL, or Python's own import) this thread spun
    # 5,000-27,000 times, once the lock was released around it 400,000 and more.
    assert int(spins) > 100_000


def test_no_torch_is_left_for_the_import_to_report(monkeypatch):
    import importlib.util

    from attn_tui import runtime

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    runtime.load_torch_library()  # nothing to load, nothing raised


async def test_collection_is_paused_until_torch_is_loaded():
    """`attn-tui` pauses the cyclic collector first thing (cli.run_app); the compute thread resumes it once
    torch is imported, with what start-up made frozen out of the collector's way."""
    import gc

    from attn_tui import runtime

    frozen = gc.get_freeze_count()
    runtime.resume_gc()  # not paused: nothing happens
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    runtime.pause_gc()
    try:
        assert not gc.isenabled()
        app = AttnApp()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert app.explorer.result is not None
            assert gc.isenabled()
            assert gc.get_freeze_count() > frozen + 10_000
    finally:
        gc.enable()
        gc.unfreeze()


async def test_the_screen_is_not_restyled_when_it_mounts(monkeypatch):
    """The screen's classes are set in compose, before its widgets mount: on_mount (the layout, the side
    pane, the source) then changes no class, and the 87 widgets are not styled a second time before the
    first frame (about 0.1 s)."""
    from textual.css.stylesheet import Stylesheet

    from attn_tui.screens.explorer import ExplorerScreen

    styled: list[int] = []
    mounting = [False]
    update_nodes, on_mount = Stylesheet.update_nodes, ExplorerScreen.on_mount

    def counting_update_nodes(self, nodes, animate=False):
        nodes = list(nodes)
        if mounting[0]:
            styled.append(len(nodes))
        return update_nodes(self, nodes, animate)

    def counting_on_mount(self):
        mounting[0] = True
        try:
            on_mount(self)
        finally:
            mounting[0] = False

    monkeypatch.setattr(Stylesheet, "update_nodes", counting_update_nodes)
    monkeypatch.setattr(ExplorerScreen, "on_mount", counting_on_mount)
    for size, narrow in (((120, 40), False), ((80, 24), True)):
        styled.clear()
        app = AttnApp(compare="a b c")
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            assert styled == []
            assert app.screen.has_class("-narrow") is narrow
            assert app.screen.has_class("-side-inspector", "-compare-open", "-comparing")
