"""The `attn-tui` command: flags set the starting state; `--json` computes once and prints."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from attn_tui import __version__
from attn_tui.argv import flag
from attn_tui.config import DEFAULTS, FIELD_NAMES, AttentionConfig, ConfigError, field_problems, parse_field
from attn_tui.sources import SOURCE_NAMES
from attn_tui.terminal_io import is_terminal
from attn_tui.text import printable, scrub

if TYPE_CHECKING:
    from attn_tui.report import Extras
    from attn_tui.result import Result

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one `error: …` line on stderr and exit 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        fail(message)


def fail(message: str) -> NoReturn:
    """Print one line and exit 2: the CLI's only way to refuse input."""
    say(f"error: {message}")
    raise SystemExit(EXIT_USAGE)


def say(message: str) -> None:
    """One line on stderr, printable whatever it quotes (a path or a value with escapes in it), if stderr is open."""
    line = printable(" ".join(str(message).split()))  # one line, and nothing in it a terminal obeys
    if sys.stderr is not None:  # None when started with stderr closed (2>&-)
        sys.stderr.write(f"{line}\n")
        sys.stderr.flush()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="attn-tui",
        description="Watch self-attention being computed, step by step, and change anything.",
        epilog="With no mode flag, opens the explorer in this terminal.",
    )
    parser.add_argument("--version", action="version", version=f"attn-tui {__version__}")
    state = parser.add_argument_group("starting state (defaults are the seed notebook's)")
    helps = {
        "prompt": "the text; words are split on whitespace",
        "seed": "seed of every random number",
        "vocab_size": "rows of the embedding table",
        "d_model": "embedding width d",
        "d_k": "query/key width (d_q = d_k)",
        "d_v": "value width",
        "heads": "attention heads; must divide d_k and d_v",
        "temperature": "divides the scaled scores before the softmax",
        "vocab_mode": "seed: the notebook's ids (they skip numbers); dense: 0..n-1",
    }
    for field, text in helps.items():
        default = getattr(DEFAULTS, field)
        state.add_argument(flag(field), dest=field, metavar=field.upper(), default=None,
                           help=f"{text} (default: {default!r})")
    state.add_argument("--causal", dest="causal", action=argparse.BooleanOptionalAction, default=None,
                       help="mask keys after the query (default: off)")
    state.add_argument("--model", metavar="MODEL", default="toy",
                       help=f"{', '.join(SOURCE_NAMES)}, or a path to a Hugging Face folder or a .gguf file. "
                            "toy: the notebook pipeline (default); the others are real models (they need the "
                            "models extra, see README)")
    state.add_argument("--device", default="cpu", choices=("cpu", "cuda", "mps"),
                       help="where a model computes (default: cpu); refused if this machine has no such device")
    modes = parser.add_argument_group("modes")
    modes.add_argument("--json", action="store_true",
                       help="compute once, print the result as one JSON object, exit")
    modes.add_argument("--export-script", metavar="FILE",
                       help="write a standalone Python script that recomputes this state, exit")
    modes.add_argument("--export", metavar="KINDS",
                       help="write json, csv, npz, grid (SVG) and/or script (comma-separated) to "
                            "--export-dir, exit")
    modes.add_argument("--export-dir", metavar="DIR", default=".",
                       help="where exports go, here and in the app (default: the current folder)")
    modes.add_argument("--stage", default="weights",
                       help="--export csv/grid: the stage (default: weights)")
    modes.add_argument("--head", default="1", help="--export csv/grid: the head, from 1 (default: 1)")
    modes.add_argument("--serve", action="store_true",
                       help="serve the explorer to a web browser (needs the web extra)")
    modes.add_argument("--host", default="127.0.0.1", help="--serve: address to bind (default: 127.0.0.1)")
    modes.add_argument("--port", type=int, default=8000, help="--serve: port (default: 8000)")
    modes.add_argument("--allow-remote", action="store_true",
                       help="--serve: allow a --host that is not loopback (no authentication: anyone "
                            "who reaches the port runs an app here; see SECURITY.md)")
    modes.add_argument("--max-sessions", type=int, default=4, metavar="N",
                       help="--serve: apps running at once; more connections are refused (default: 4)")
    modes.add_argument("--session-memory", type=int, default=3072, metavar="MIB",
                       help="--serve: each app's memory cap in MiB, 0 for none (default: 3072)")
    extras = parser.add_argument_group("--json extras (each adds a key to the object)")
    extras.add_argument("--head-stats", action="store_true",
                        help="every layer × head's entropy, sink, self, previous, duplicate, induction, max")
    extras.add_argument("--induction-test", metavar="N", nargs="?", const="50", default=None,
                        help="N random tokens repeated twice; each head's induction score (default N: 50)")
    extras.add_argument("--induction-seed", metavar="SEED", default=None,
                        help="seed of the induction test's tokens (default: 0)")
    extras.add_argument("--compare", metavar="TEXT", default=None,
                        help="prompt B: its tokens and attentions, and Δ vs B in --head-stats")
    extras.add_argument("--generate", metavar="N", nargs="?", const="8", default=None,
                        help="generate N tokens greedily after the prompt (decoders; default N: 8); in the "
                             "explorer too, which shows them")
    extras.add_argument("--value-weighted", action="store_true",
                        help="α_ij · ‖f_h(x_j)‖: each weight times the size of its value through W_O")
    extras.add_argument("--rollout", action="store_true", help="attention rollout after every layer")
    extras.add_argument("--words", action="store_true",
                        help="subword tokens merged into words; in the explorer: the word view, with --export: "
                             "CSV and SVG of the words")
    return parser


def config_from_args(args: argparse.Namespace) -> AttentionConfig:
    """The config the flags ask for; any bad value exits 2 with one line naming the flag."""
    values = {}
    for field in FIELD_NAMES:
        raw = getattr(args, field, None)
        if raw is None:
            continue
        if isinstance(raw, bool):
            values[field] = raw
            continue
        try:
            values[field] = parse_field(field, raw)
        except ConfigError as error:
            fail(f"{flag(error.field)}: {error}")
    config = DEFAULTS.replace(**values)
    problems = field_problems(config)
    if problems:
        fail(f"{flag(problems[0].field)}: {problems[0]}")
    return config


def _count(option: str, text: str, minimum: int, maximum: int) -> int:
    """A whole number typed for `option` (spaces, a sign, `_` between digits as elsewhere), or exit 2."""
    try:
        value = int(text.strip())
    except ValueError:
        fail(f"{option}: {text!r} is not a whole number")
    if not minimum <= value <= maximum:
        fail(f"{option}: {value} is out of range: allowed {minimum:,} to {maximum:,}")
    return value


APP_EXTRAS = {"words": ("explorer", "export"), "generate": ("explorer",)}
"""The extras that also set a starting state: the word view (and word-level exports), a generation (issue 16)."""


def _mode(args: argparse.Namespace) -> str:
    if args.json:
        return "json"
    if args.export or args.export_script:
        return "export"
    return "serve" if args.serve else "explorer"


def extras_from_args(args: argparse.Namespace) -> Extras | None:
    """What the `--json` extras ask for, or None if none is set; any without --json exits 2, except `--words` (the
    explorer, `--export`) and `--generate` (the explorer), which set a starting state there."""
    given = [name for name in ("head_stats", "induction_test", "induction_seed", "compare", "generate",
                               "value_weighted", "rollout", "words") if getattr(args, name) not in (None, False)]
    if not given or (not args.json and given == ["compare"]):  # prompt B opens the explorer comparing
        return None
    mode = _mode(args)
    if mode != "json":
        for name in given:
            if mode not in APP_EXTRAS.get(name, ()):
                places = ["--json", *(f"--{m}" for m in APP_EXTRAS.get(name, ()) if m != "explorer")]
                app = " or in the explorer" if "explorer" in APP_EXTRAS.get(name, ()) else ""
                fail(f"{flag(name)}: only with {', '.join(places)}{app}")
    from attn_tui.report import Extras

    return Extras(
        head_stats=args.head_stats,
        induction_test=None if args.induction_test is None else _count("--induction-test", args.induction_test,
                                                                       1, 100_000),
        induction_seed=0 if args.induction_seed is None else _count("--induction-seed", args.induction_seed,
                                                                    -(2**63), 2**64 - 1),
        compare=args.compare,
        generate=None if args.generate is None else _count("--generate", args.generate, 1, 100_000),
        value_weighted=args.value_weighted,
        rollout=args.rollout,
        words=args.words,
    )


def _write_json(result: Result) -> int:
    from attn_tui.serialize import write_json

    write_json(result.json_items(), sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


def _progress(fraction: float, label: str) -> None:
    """A model's loading, on stderr when stderr is a terminal: one line, rewritten in place."""
    from attn_tui.text import printable

    bar = "█" * round(fraction * 20) + "░" * (20 - round(fraction * 20))
    end = "\n" if fraction >= 1.0 else ""
    sys.stderr.write(f"\r\x1b[2K{bar} {fraction:4.0%} {printable(label)[:60]}{end}")
    sys.stderr.flush()


def _compute(config: AttentionConfig, model: str, device: str = "cpu") -> Result:
    """The result the flags ask for, from the toy pipeline or a model; a refusal exits 2."""
    from attn_tui import runtime
    from attn_tui.sources import SourceFailure, source_spec

    runtime.configure_torch()
    try:
        spec = source_spec(model)
    except ValueError as error:
        fail(f"--model: {error}")
    problems = spec.problems(config)
    if problems:
        field, message = next(iter(problems.items()))
        fail(f"{flag(field)}: {message}")
    progress = _progress if model != "toy" and is_terminal(sys.stderr) else (lambda fraction, label: None)
    try:
        return spec.open(progress, None, device).run(config)
    except SourceFailure as error:
        fail(str(error))


def run_json(config: AttentionConfig, model: str = "toy", device: str = "cpu", extras: Extras | None = None) -> int:
    if sys.stdout is None:  # started with stdout closed (>&-): nowhere to print, so say so first
        fail("stdout is closed: nowhere to write the JSON")
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")  # JSON is UTF-8 (RFC 8259), whatever the locale says
    if extras is None or not extras.any():
        return _write_json(_compute(config, model, device))
    from attn_tui import report

    # A generation makes its own result; anything else starts from the prompt's, refused as usual.
    result = None if extras.generate is not None else _compute(config, model, device)
    try:
        built = report.build(config, model, extras, result)
    except report.Refused as error:
        fail(str(error))
    report.write_json(built.json_items(), sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


def run_export(config: AttentionConfig, args: argparse.Namespace) -> int:
    """`--export KINDS`: compute once, check every target, write each file to --export-dir, name each on stderr."""
    from attn_tui import export
    from attn_tui.stages import STAGE_BY_NAME

    kinds = [k.strip().lower() for k in args.export.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in export.EXPORT_KINDS]
    if not kinds or unknown:
        fail(f"--export: {', '.join(unknown) or 'nothing'} is not a format: use {', '.join(export.EXPORT_KINDS)}")
    if "script" in kinds and args.model != "toy":  # before loading a model for nothing
        fail("--export: script: the script recomputes the toy pipeline; a real model has none")
    if args.stage not in STAGE_BY_NAME and args.stage != "embeddings":
        fail(f"--stage: {args.stage!r} is not a stage: use {', '.join(STAGE_BY_NAME)}")
    try:
        head = int(args.head)
    except ValueError:
        fail(f"--head: {args.head!r} is not a whole number")
    result = _compute(config, args.model, args.device)
    if not 1 <= head <= result.n_heads:
        fail(f"--head: {head} is out of range: allowed 1 to {result.n_heads}")
    try:
        written = export.export(result, kinds, export.Selection(args.stage, 0, head - 1, words=args.words),
                                args.export_dir)
    except export.ExportExists as error:
        fail(str(error))
    except (OSError, ValueError) as error:
        fail(f"--export: {error}")
    for path in written:
        say(f"wrote {path}")
    return 0


def write_script(config: AttentionConfig, path: str) -> int:
    """`--export-script FILE`: write the script, say so on stderr, return 0 (an existing FILE: exit 2)."""
    from pathlib import Path

    from attn_tui.export import ExportExists, check_free, write_file
    from attn_tui.script import script_source

    target = Path(path).expanduser()
    text = script_source(config, target.name)
    try:
        check_free([target])
        write_file(target, lambda f: f.write(text))
    except ExportExists:
        fail(f"{path} exists; not overwriting")
    except OSError as error:
        fail(f"cannot write {path}: {error.strerror or error}")
    say(f"wrote {path}")
    return 0


PATH_FLAGS = ("export_dir", "export_script", "model")
"""Flags that name files (`--model` may be a checkpoint's path): they keep their bytes (see `scrub_text_flags`)."""


def scrub_text_flags(args: argparse.Namespace) -> None:
    """Undecodable bytes in a text flag become U+FFFD, as a UTF-8 decoder would make them: the one rule.

    Python hands `--prompt $'caf\\xe9'` over as `caf\\udce9`, which no UTF-8 writer can write (the CSV
    export failed on it, the script printed invalid UTF-8). Scrubbed here, once, every writer (JSON, CSV,
    SVG, the script, stderr, the screen) sees `caf�`. File names keep their bytes, so they name the
    file the user meant; they are scrubbed only where shown (`say`).
    """
    for name, value in vars(args).items():
        if isinstance(value, str) and name not in PATH_FLAGS:
            setattr(args, name, scrub(value))


def run_app(config: AttentionConfig, args: argparse.Namespace, generate: int = 0) -> int:
    """The explorer, on the terminal; a kill (SIGTERM, SIGHUP, SIGQUIT) quits it cleanly, terminal restored."""
    from attn_tui import runtime

    runtime.pause_gc()  # until torch is loaded (the compute thread resumes it)
    from attn_tui.terminal_io import find_terminal, patch_terminal_input, terminal_driver

    driver = None
    restore = None
    # textual-serve runs each browser connection's app on pipes, with its own driver (TEXTUAL_DRIVER).
    if not os.environ.get("TEXTUAL_DRIVER"):
        if sys.platform == "win32":
            if not (is_terminal(sys.stdin) and is_terminal(sys.stdout)):
                fail("attn-tui needs a terminal on stdin and stdout; use --json for scripts")
        else:
            terminal = find_terminal()
            if terminal is None:
                fail("attn-tui needs a terminal: stdin, stdout and stderr are not all one and /dev/tty "
                     "cannot be opened; use --json for scripts")
            driver = terminal_driver(*terminal)
            restore = runtime.terminal_restorer(terminal[0])
    from attn_tui.sources import source_spec

    try:
        source_spec(args.model)  # a name or a path that could be a checkpoint: the app loads it
    except ValueError as error:
        fail(f"--model: {error}")
    from attn_tui.app import AttnApp

    patch_terminal_input()
    app = AttnApp(config=config, model=args.model, export_dir=args.export_dir, device=args.device,
                  compare=args.compare or "", words=args.words, generate=generate)
    if driver is not None:
        app.driver_class = driver
    with runtime.quit_on_signals(app, restore) as received:
        app.run()
    if received:
        return 128 + received[-1]
    return app.return_code or 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    scrub_text_flags(args)
    config = config_from_args(args)
    extras = extras_from_args(args)
    try:
        if args.json or args.export or args.export_script:
            from attn_tui import runtime

            with runtime.exit_on_signals():  # a kill while writing removes the half-written temporary file
                if args.json:
                    return run_json(config, args.model, args.device, extras)
                if args.export:
                    return run_export(config, args)
                if args.model != "toy":
                    fail("--export-script: the script recomputes the toy pipeline; a real model has none")
                return write_script(config, args.export_script)
        if args.serve:
            from attn_tui.serve import Limits, ServeError, serve

            limits = Limits(args.max_sessions, args.session_memory or None)
            try:
                return serve(args.host, args.port, config, model=args.model, allow_remote=args.allow_remote,
                             limits=limits)
            except ServeError as error:
                fail(str(error))
        generate = extras.generate if extras is not None and extras.generate is not None else 0
        if generate and args.model == "toy":
            fail("--generate: the toy pipeline has no language-model head, so nothing to generate with; "
                 "choose a decoder: --model smollm2 (or a GPT-2 / Llama-family checkpoint)")
        return run_app(config, args, generate)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`attn-tui --json | head`): nothing left to say to anyone.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
