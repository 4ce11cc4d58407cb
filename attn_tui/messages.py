"""Messages the explorer handles: the compute service's outcomes, posted from its thread (past tense)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from attn_tui.compute import Computed, Failed, Loading


@dataclass
class ResultComputed(Message):
    """A request's result arrived."""

    outcome: Computed


@dataclass
class ComputeFailed(Message):
    """A request (or the compute service itself) failed."""

    outcome: Failed


@dataclass
class SourceLoading(Message):
    """A source reported how far its loading has got."""

    outcome: Loading
