"""User text made safe to show or print: the one rule for text that goes to a terminal or a file.

Two hazards, one module (standard library only, so the backend, the CLI, every writer and the UI
share it):

- **Characters a terminal obeys or that reorder what it shows.** `UNSAFE` is the set: C0 and C1
  controls and DEL (escape sequences: `\\x1b]2;…\\x07` retitles a terminal, OSC 52 writes the
  clipboard, `\\x9b` is a one-character CSI), the bidirectional controls (U+202A–E, U+2066–9,
  U+200E/F, U+061C: "Trojan Source" reordering), the line and paragraph separators, and lone
  surrogates. Whatever shows user text makes them visible (`printable`, `stand_ins`); the JSON
  writers escape them as `\\uXXXX` (`UNSAFE_JSON`), which means the same character.
- **Bytes that are not UTF-8.** Python hands undecodable bytes in argv over as lone surrogates
  (`caf\\udce9`), which no UTF-8 writer can write. `scrub` turns them into U+FFFD exactly as a UTF-8
  decoder with errors="replace" would have; the CLI scrubs every text flag once, so every writer
  (JSON, CSV, SVG, the script, stderr) sees the same text. Paths are the exception: a file name keeps
  its bytes (it names the file the user meant), and is scrubbed only where it is shown.
"""

from __future__ import annotations

import re
import unicodedata

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
"""Arabic letter mark, LRM, RLM, the embeddings and overrides (LRE RLE PDF LRO RLO), the isolates (LRI RLI FSI PDI)."""

UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI_CONTROLS}\u2028\u2029\ud800-\udfff]")
"""Characters never written raw where a terminal could read them (see the module's docstring)."""

_SURROGATE = re.compile("[\ud800-\udfff]")

_CONTROL_PICTURES = {0x1B: "␛", 0x7F: "␡", 0x09: "␉", 0x0A: "␤", 0x0D: "␍"}


def scrub(text: str) -> str:
    """`text` with lone surrogates replaced as a UTF-8 decoder with errors="replace" would: `caf\\udce9` → `caf�`.

    Surrogate-escaped bytes (U+DC80–U+DCFF, what Python makes of undecodable argv bytes) are turned back
    into their bytes and decoded; any other lone surrogate becomes one U+FFFD.
    """
    if not _SURROGATE.search(text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that is not an escaped byte (U+D800–U+DC7F)
        return _SURROGATE.sub("\ufffd", text)


def printable(text: str) -> str:
    """`text` with every control, bidi, format or invisible character replaced by a visible stand-in.

    An escape sequence in a prompt (`\\x1b[2J`) becomes `␛[2J`: shown, never obeyed. U+202E becomes
    `⟨202e⟩`; an undecodable byte `�`. Use it for anything printed or drawn: stderr, CSV and SVG labels,
    notifications, dialogs.
    """
    if text.isprintable():
        return text
    out = []
    for ch in scrub(text):
        if ch.isprintable():
            out.append(ch)
            continue
        code = ord(ch)
        category = unicodedata.category(ch)
        if code in _CONTROL_PICTURES:
            out.append(_CONTROL_PICTURES[code])
        elif code < 0x20:
            out.append(chr(0x2400 + code))  # ␀ … ␟, the Control Pictures block
        elif category in ("Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Cc"):
            out.append(f"⟨{code:04x}⟩")
        else:  # spaces other than ' ' (NBSP etc.) stay visible as a middle dot
            out.append("·")
    return "".join(out)


def printable_lines(text: str) -> str:
    """`printable` line by line: the line breaks a message means stay, everything else is made visible."""
    return "\n".join(printable(line) for line in text.split("\n"))


def stand_ins(text: str) -> str:
    """`text` with each control, format or surrogate character swapped for one visible character.

    One character for one, so that positions in the text stay positions on screen (for an input's
    cursor); tabs stay (inputs expand them). `\x1b` becomes `␛`, U+202E and other invisibles `�`.
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch.isprintable() or ch == "\t" or unicodedata.category(ch) in ("Zs", "Mn", "Me", "Mc"):
            out.append(ch)
        elif code in _CONTROL_PICTURES:
            out.append(_CONTROL_PICTURES[code])
        elif code < 0x20:
            out.append(chr(0x2400 + code))
        else:
            out.append("\ufffd")
    return "".join(out)


def json_safe(text: str) -> str:
    """JSON text (from `json.dumps(..., ensure_ascii=False)`) with every `UNSAFE` character escaped as `\\uXXXX`.

    json escapes the C0 controls itself but writes DEL, the C1 controls, the bidi controls and the line
    separators raw; they can only occur inside JSON strings, where `\\uXXXX` means the same character.
    Lone surrogates are scrubbed to U+FFFD first (the one rule for undecodable bytes).
    """
    if not UNSAFE.search(text):
        return text
    return scrub(text).translate(_JSON_ESCAPES)


_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in (*range(0x20), *range(0x7F, 0xA0), *map(ord, BIDI_CONTROLS),
                                                     0x2028, 0x2029)}


def shell_quote(word: str) -> str:
    """One shell word for `word` that is both exact and printable.

    `shlex.quote` when every character is printable; otherwise bash's `$'…'` quoting, which spells each
    control, bidi or invisible character as an escape (`$'a\\x1b]2;x\\x07'`, `$'\\u202e'`) that bash,
    zsh and ksh read back as the same character: the command line reopens exactly this state, and
    showing it obeys nothing. An undecodable byte is U+FFFD (`scrub`), as the CLI reads it.
    """
    import shlex

    if word.isprintable():
        return shlex.quote(word)
    out = []
    for ch in scrub(word):
        code = ord(ch)
        if ch in "\\'":
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return "$'" + "".join(out) + "'"
