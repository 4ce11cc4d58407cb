"""The command palette's explorer commands: every action, by name, as a Textual `Provider`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from attn_tui.export.formats import EXPORTS
from attn_tui.sources import source_names, source_spec
from attn_tui.stages import STAGES
from attn_tui.widgets.head_table import HeadTable

if TYPE_CHECKING:
    from attn_tui.screens.explorer import ExplorerScreen

Command = tuple[str, str, Callable[[], object]]
"""(name, help, callback)."""


def _app_action(explorer: ExplorerScreen, action: str) -> Callable[[], object]:
    """A callback running one of the app's actions (export, help): the app is reached through the screen."""
    return partial(explorer.app.run_action, action)


def explorer_commands(explorer: ExplorerScreen) -> Iterator[Command]:
    """Every explorer command that applies now, in the order help lists them."""
    result = explorer.result
    folder = getattr(explorer.app, "export_dir", ".")
    where = "download it in the browser" if explorer.app.is_web else f"write it to {folder}"
    for stage in STAGES:
        if result is None or stage.name in result.stages:
            yield (f"Stage: {stage.label}", f"{stage.formula} — {stage.explain}",
                   partial(explorer.action_stage, stage.name))
    heads = result.n_heads if result is not None else 1
    for h in range(heads if heads > 1 else 0):
        yield f"Head {h + 1}", f"show head {h + 1} of {heads}", partial(explorer.action_set_head, h)
    if result is not None and result.n_layers == 1 and heads > 1:
        yield "Toggle heads overview", "every head's weights side by side", explorer.action_toggle_overview
    for name in source_names():
        yield f"Model: {name}", source_spec(name).description, partial(explorer.action_set_source, name)
    yield "Head table", "every layer × head with its statistics; sortable; enter opens a head (H)", \
        explorer.action_toggle_table
    if explorer.table:
        yield ("Induction test", "repeat 50 random tokens: induction heads attend to what came after the "
                                 "token's first occurrence", partial(explorer.post_message, HeadTable.InductionAsked()))
    yield "Compare with prompt B…", "a second prompt: the grid shows A, B or A − B (b)", explorer.action_compare
    if explorer.session.compare.strip():
        yield "Stop comparing", "forget prompt B", explorer.action_stop_comparing
    yield ("Open model…", "a Hugging Face folder or a .gguf file from this disk (nothing in it is run)",
           explorer.action_open_model)
    if explorer.result is None and explorer.source != "toy":
        yield "Cancel loading", f"stop loading {explorer.source} and go back to the toy", explorer.action_cancel_loading
    if result is not None and any(result.special):
        yield ("Toggle special tokens", "hide [CLS]/[SEP]/first tokens and renormalise rows",
               explorer.action_toggle_special)
    if result is not None and result.n_layers > 1:
        yield "Next layer", "show the next layer", partial(explorer.action_cycle_layer, 1)
        yield "Model view: every layer × head", "small maps; Enter opens one", explorer.action_toggle_overview
    yield from thinking_commands(explorer)  # issue 16: generation, the lens, the word view
    yield "Toggle causal mask", "mask keys after the query", explorer.action_toggle_causal
    yield "Vocab mode: seed", "the notebook's ids (they skip numbers)", partial(explorer.action_set_vocab_mode, "seed")
    yield "Vocab mode: dense", "distinct words numbered 0..n-1", partial(explorer.action_set_vocab_mode, "dense")
    labels = {"json": "JSON", "csv": "CSV of the grid", "npz": "NumPy .npz", "grid": "SVG of the grid",
              "script": "Python script"}
    for fmt in EXPORTS:
        if fmt.kind == "script":
            yield ("Export: SVG of the screen", where,
                   _app_action(explorer, "export_as('screen')"))
        yield (f"Export: {labels.get(fmt.kind, fmt.kind)}", where,
               _app_action(explorer, f"export_as('{fmt.kind}')"))
    yield "Export…", "choose a format and a folder", _app_action(explorer, "export")
    yield ("Show the command line", "the attn-tui command that reopens this state (copied)",
           _app_action(explorer, "show_command"))
    yield "Zoom: auto / numbers / colour blocks", "how the grid draws its cells (z)", explorer.action_cycle_zoom
    yield "Reset to the notebook", "restore every default setting; the prompt stays", explorer.action_reset
    yield "Reset everything, the prompt too", "the notebook's settings and prompt", explorer.action_reset_all
    if explorer._undo is not None:
        yield "Undo the reset", "put back the settings, prompt and view before the reset", explorer.action_undo_reset
    yield "Focus the prompt", "edit the text", explorer.action_focus_prompt
    yield "Focus the grid", "move the cursor over the cells", explorer.action_focus_grid
    yield "Help", "every key and pane", _app_action(explorer, "help")


def thinking_commands(explorer: ExplorerScreen) -> Iterator[Command]:
    """Issue 16's commands that apply now: generate, how many tokens, stop, step through them, the lens, words."""
    from attn_tui.screens.thinking import TOKEN_CHOICES

    result = explorer.result
    if explorer.why_not("generate", ()) is None:
        count = explorer.generate_count
        yield (f"Generate {count} tokens (n)", "greedy, after what is shown; the grid follows the newest token",
               explorer.action_generate)
        for choice in TOKEN_CHOICES:
            yield (f"Tokens to generate: {choice}", f"n generates {choice} token{'s' if choice > 1 else ''}",
                   partial(explorer.action_set_generate_count, choice))
        yield ("Toggle logit lens (p)", "the next tokens read after every layer, under the predictions",
               explorer.action_toggle_lens)
    if explorer.generating:
        yield ("Cancel generation (n)", "stop after the current token; keep the tokens made",
               explorer.action_cancel_generation)
    if result is not None and True in result.generated:
        yield ("Next generated token (>)", "the grid's query on the next generated token",
               partial(explorer.action_step_generated, 1))
        yield ("Previous generated token (<)", "the grid's query on the previous one",
               partial(explorer.action_step_generated, -1))
    if explorer.words or explorer.why_not("toggle_words", ()) is None:
        yield ("Toggle word view (w)", "subword tokens merged into the prompt's words (weights, value-weighted, "
               "rollout)", explorer.action_toggle_words)


class ExplorerCommands(Provider):
    """The explorer's commands, matched by Textual's fuzzy matcher."""

    def _commands(self) -> list[Command]:
        explorer = getattr(self.app, "explorer", None)
        return list(explorer_commands(explorer)) if explorer is not None else []

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            if (match := matcher.match(name)) > 0:
                yield Hit(match, matcher.highlight(name), callback, help=help_text)
