"""A keyboard storm: thousands of random keys and resizes from fixed seeds, then the app must still work.

Keys go through the driver's queue in bursts, as a fast typist, a paste or a script delivers them,
without waiting for the screen between keys. More seeds: `ATTN_STORM_SEEDS=0-19` (or `3,7,11`),
longer storms: `ATTN_STORM_KEYS=5000` (default: 2 seeds × 1,000 keys, 20–30 s each on 2 busy cores;
Textual handles a key in about 20 ms, so "a few seconds" would mean a storm of a few hundred keys).
"""

from __future__ import annotations

import os
import random
import unicodedata

import pytest
import torch
from textual import events
from textual.app import _character_to_key
from textual.keys import REPLACED_KEYS, _get_unicode_name_from_key
from textual.widgets import Input

from attn_tui.app import AttnApp
from attn_tui.attention import AttentionConfig, compute
from tests.scenarios import settle

LETTERS = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
DIGITS = list("0123456789")
SYMBOLS = list(" -_.,;:'\"!@#$%^&*()+=/\\|<>~`[]{}?") + ["é", "我", "🤖"]
NAVIGATION = ["up", "down", "left", "right", "home", "end", "pageup", "pagedown", "ctrl+home", "ctrl+end",
              "shift+left", "shift+right", "shift+home", "shift+end", "ctrl+left", "ctrl+right"]
EDITING = ["tab", "shift+tab", "enter", "escape", "backspace", "delete", "space", "insert"]
CONTROL = [f"ctrl+{c}" for c in "abcdefghijklnopqrstuvwxyz"] + ["f1", "f2", "f3", "f5", "f10", "f12"]
WEIGHTED = [(LETTERS, 30), (DIGITS, 12), (SYMBOLS, 10), (NAVIGATION, 20), (EDITING, 16), (CONTROL, 12)]


def storm_seeds() -> list[int]:
    spec = os.environ.get("ATTN_STORM_SEEDS", "0,1")
    seeds: list[int] = []
    for part in spec.split(","):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    return seeds


STORM_KEYS = int(os.environ.get("ATTN_STORM_KEYS", "1000"))


def random_key(rng: random.Random) -> str:
    group = rng.choices([g for g, _ in WEIGHTED], [w for _, w in WEIGHTED])[0]
    return rng.choice(group)


def key_event(key: str) -> events.Key:
    """The event Textual's Pilot.press makes for `key` (without its wait for the screen)."""
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    try:
        char = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
    except KeyError:
        char = key if len(key) == 1 else None
    return events.Key(key, char)


async def drain(pilot) -> None:
    """Wait until every key of the storm has been handled (a pause alone can leave some queued)."""
    app = pilot.app
    for _ in range(200):
        await pilot.pause(0.02)
        queues = [app._message_queue, *(node._message_queue for node in app.screen.walk_children())]
        if all(queue.empty() for queue in queues):
            return


def assert_alive(app: AttnApp, where: str) -> None:
    assert app._exception is None, f"{where}: {app._exception!r}"
    assert app.is_running, f"{where}: the app stopped"


@pytest.mark.parametrize("seed", storm_seeds())
async def test_keyboard_storm(seed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `e` exports: keep whatever the storm writes out of the repository
    rng = random.Random(seed)
    app = AttnApp(export_dir=tmp_path)
    quits = []

    async def action_quit() -> None:  # ctrl+q, the palette's Quit: counted, not done, or the storm
        quits.append(1)  # would end after a few keys and prove nothing about the rest

    app.action_quit = action_quit  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        sent = 0
        while sent < STORM_KEYS:
            if rng.random() < 0.15:
                await pilot.resize_terminal(rng.randint(10, 220), rng.randint(4, 70))
            burst = min(rng.randint(1, 60), STORM_KEYS - sent)
            for _ in range(burst):
                event = key_event(random_key(rng))
                event.set_sender(app)
                app._driver.send_message(event)
            sent += burst
            await pilot.pause()
            assert_alive(app, f"seed {seed}, after {sent} keys")

        await drain(pilot)
        # Whatever the storm left (a dialog, a bad field, another model, a tiny terminal): reset works.
        await pilot.resize_terminal(120, 40)
        while len(app.screen_stack) > 1:
            app.pop_screen()
            await pilot.pause()
        await app.run_action("screen.reset_all")
        await settle(pilot)
        assert_alive(app, f"seed {seed}, after reset")
        assert not app.stale and not app.errors
        assert app.result.config == AttentionConfig()
        assert torch.equal(app.result.context, compute().context)

        # And a prompt edit recomputes, correctly.
        prompt = app.query_one("#prompt", Input)
        prompt.focus()
        await pilot.press("end", "space", *"storm", "ctrl+left", "backspace")
        await settle(pilot)
        want = AttentionConfig(prompt="Hello World I am an attention seeker I love attentionstorm")
        assert prompt.value == want.prompt
        assert app.result.config == want and not app.stale
        assert torch.equal(app.result.weights, compute(want).weights)
        assert_alive(app, f"seed {seed}, at the end")
