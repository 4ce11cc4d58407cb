"""The session: what the user typed, whether it is valid, which request is current, and what the status says.

Pure (no textual, no torch), so every rule about staleness and failures is tested without a pilot.
The screen feeds it field texts and compute outcomes; it answers with requests and status text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from attn_tui.compute import Computed, Failed, Request, View
from attn_tui.config import DEFAULTS, FIELD_NAMES, AttentionConfig, ConfigError, field_text, parse_field
from attn_tui.sources import source_spec
from attn_tui.text import printable

if TYPE_CHECKING:
    from attn_tui.result import Result

TEXT_FIELDS = tuple(name for name in FIELD_NAMES if name not in ("causal", "vocab_mode"))
"""Fields typed as text (the others are a checkbox and a choice)."""


@dataclass
class Session:
    """One explorer's state between the widgets and the compute service."""

    source: str
    """The source shown: `toy`, a model's short name, or a checkpoint's path."""
    texts: dict[str, Any]
    """Field → what the widget holds: text for typed fields, a bool for causal, a name for vocab_mode."""
    errors: dict[str, str]
    """Field → why its value is refused (empty when every field is valid)."""
    generation: int = 0
    """The newest request's number."""
    shown_generation: int = 0
    """The number of the request whose result (or failure) is on screen."""
    note: str = "loading torch…"
    """What the status says while there is no result yet."""
    last_seconds: float = 0.0
    """How long the shown result took to compute."""
    last_cpu_seconds: float = 0.0
    """The last shown computation's own processor time (Computed.cpu_seconds; its wall time if not measured)."""
    compare: str = ""
    """Prompt B, compared with the prompt (empty: no comparison)."""
    activity: str = ""
    """What is still running for the shown result (a generation's progress: `generating 6/16`), or ""."""

    @classmethod
    def start(cls, config: AttentionConfig, source: str = "toy") -> Session:
        session = cls(source, {}, {})
        session.load(config)
        return session

    def load(self, config: AttentionConfig) -> None:
        """Take every field from `config` (the start, or a reset)."""
        self.texts = {name: getattr(config, name) for name in FIELD_NAMES}
        for name in TEXT_FIELDS:
            if name != "prompt":
                self.texts[name] = field_text(name, getattr(config, name))

    def edit(self, field: str, value: Any) -> bool:
        """Record a field's new value; False if it did not change."""
        if self.texts.get(field) == value:
            return False
        self.texts[field] = value
        return True

    def config(self) -> tuple[AttentionConfig | None, dict[str, str]]:
        """The config the fields describe for the current source, or None and the problems (field → message)."""
        spec = source_spec(self.source)
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name in FIELD_NAMES:
            raw = self.texts[name]
            if name not in spec.settings:
                continue  # a field this source does not read cannot stop it
            if isinstance(raw, str) and name != "vocab_mode":
                try:
                    values[name] = parse_field(name, raw)
                except ConfigError as error:
                    errors[name] = str(error)
            else:
                values[name] = raw
        if errors:
            return None, errors
        config = DEFAULTS.replace(**values)
        problems = spec.problems(config)
        return (None, problems) if problems else (config, {})

    def request(self, view: View, generate: int = 0) -> Request | None:
        """Validate the fields; if valid, the next request (numbered), else None with `errors` set.

        `generate`: tokens to generate after the prompt (0: a plain run, which any edit asks for)."""
        config, self.errors = self.config()
        self.activity = ""
        compare = self.compare if self.compare.strip() else None
        if config is not None and compare is not None:
            problems = source_spec(self.source).problems(config.replace(prompt=compare))
            if "prompt" in problems:
                self.errors = {"compare": "prompt B: " + problems["prompt"]}
                return None
        if config is None:
            return None
        self.generation += 1
        return Request(self.generation, self.source, config, view, compare, generate)

    # -- outcomes --------------------------------------------------------------------------------

    def accepts(self, outcome: Computed) -> bool:
        """Whether a result is worth showing: for the current source and not older than the one shown."""
        request = outcome.request
        if request.source != self.source or request.generation < self.shown_generation:
            return False
        self.shown_generation = request.generation
        self.last_seconds = outcome.seconds
        self.last_cpu_seconds = outcome.seconds if outcome.cpu_seconds is None else outcome.cpu_seconds
        self.note = ""
        return True

    def failed(self, outcome: Failed) -> bool:
        """Whether a failure is shown. The service's own failures always are (nothing else will come), a
        source's when they are for the current source: a newer request of it would fail the same way,
        and one that fails no more replaces the message when it comes."""
        request = outcome.request
        own = request is None
        current = request is not None and request.source == self.source and (
            request.generation == self.generation or outcome.field == "model")
        if not (own or current):
            return False
        self.errors = {outcome.field or "prompt": outcome.message}
        self.shown_generation = max(self.shown_generation, request.generation if request else self.generation)
        return True

    @property
    def pending(self) -> bool:
        """A request has not been answered yet."""
        return self.generation != self.shown_generation

    def stale(self, shown: Result | None) -> bool:
        """The shown result is not the one the fields describe."""
        return shown is not None and (self.pending or bool(self.errors))

    def status(self, shown: Result | None, *, timing: bool = True) -> str:
        """The status line: source, state (✗ refused · ◌ computing · ● current), and the result's shape."""
        if self.errors:
            first = printable(next(iter(self.errors.values())))
            state = f"✗ stale · {first}" if shown is not None else f"✗ {first}"
        elif self.activity and shown is not None:
            state = f"◌ {self.activity}"
        elif self.pending or shown is None:
            state = "◌ computing…" if shown is not None else f"◌ {self.note or 'computing…'}"
        else:
            state = "● current"
        parts = [f"attn-tui · {self.source}", state]
        if shown is not None:
            parts.append(shown.summary() + (f" · {self.last_seconds * 1000:.1f} ms" if timing else ""))
        return "  ".join(parts)
