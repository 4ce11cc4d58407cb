"""A state as `attn-tui` arguments, and back: the one place that knows how flags spell the settings.

Used by the CLI (parsing), export and the script (the command line that reopens a state), and serve
(the command each browser connection runs). Standard library only.
"""

from __future__ import annotations

from attn_tui.config import DEFAULTS, FIELD_NAMES, AttentionConfig
from attn_tui.text import shell_quote


def flag(field: str) -> str:
    """The flag of a config field: `d_model` → `--d-model`."""
    return "--" + field.replace("_", "-")


def command_flags(config: AttentionConfig, model: str = "toy", *, words: bool = False,
                  generate: int = 0) -> list[str]:
    """The `attn-tui` arguments (unquoted) that set `config`: only fields that differ from the defaults; then
    `--words` (the word view) and `--generate N` (N tokens generated after the prompt) when asked for.

    A value starting with `-` is joined to its flag (`--prompt=-x`) so argparse never reads it as
    an option.
    """
    args: list[str] = []
    if model != "toy":
        args += ["--model", model]
    for field in FIELD_NAMES:
        value = getattr(config, field)
        if value == getattr(DEFAULTS, field):
            continue
        name = flag(field)
        if field == "causal":
            args.append(name if value else f"--no-{field}")
            continue
        text = repr(float(value)) if field == "temperature" else str(value)
        if text.startswith("-"):
            args.append(f"{name}={text}")
        else:
            args += [name, text]
    if generate:
        args += ["--generate", str(generate)]
    if words:
        args.append("--words")
    return args


def command_line(config: AttentionConfig, model: str = "toy", *, words: bool = False, generate: int = 0) -> str:
    """The shell command that reopens exactly this state: `attn-tui --prompt 'a b' --heads 2 --causal`.

    Printable whatever the prompt holds: a word with a control or bidi character is written in `$'…'`
    quoting (`--prompt $'hi \\x1b]2;x\\x07'`), so showing the command obeys nothing and running it in
    bash or zsh gives back the same prompt (attn_tui.text.shell_quote).
    """
    flags = command_flags(config, model, words=words, generate=generate)
    return " ".join(shell_quote(word) for word in ["attn-tui", *flags])
