"""The private Textual names attn_tui.compat patches exist in the Textual installed, in the range checked.

When Textual moves past the range, this fails first: read each patch's comment in compat.py, check it
still works around something (or drop it), and widen the range.
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import version

import pytest

from attn_tui import compat, frame_diff, terminal_io


def test_textual_is_in_the_range_the_patches_were_checked_on():
    installed = tuple(int(part) for part in version("textual").split(".")[:3])
    assert compat.CHECKED_FROM <= installed < compat.CHECKED_BELOW, (
        f"textual {version('textual')} is outside {compat.CHECKED_FROM}..{compat.CHECKED_BELOW}: "
        "re-check every patch in attn_tui/compat.py")


PATCHED = (*compat.PRIVATE_NAMES, *frame_diff.PRIVATE_NAMES, *terminal_io.PRIVATE_NAMES)
"""Every private name used, by the three modules that reach into Textual."""


@pytest.mark.parametrize(("where", "name"), PATCHED)
def test_each_private_name_still_exists(where, name):
    module_name, _, class_name = where.partition(":")
    target = importlib.import_module(module_name)
    if class_name.endswith(".__init__"):  # an attribute the constructor assigns
        source = inspect.getsource(getattr(target, class_name.removesuffix(".__init__")).__init__)
        assert f"self.{name} =" in source, f"{where} no longer sets {name}: the patch in compat.py needs a look"
        return
    if class_name:
        instance = class_name.endswith("()")
        target = getattr(target, class_name.removesuffix("()"))
        if instance:
            target = target()
    assert hasattr(target, name), f"{where} has no {name}: the patch that uses it in compat.py needs a look"
