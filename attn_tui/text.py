"""User text made safe to show or print: control, format and bidi characters become visible stand-ins.

Standard library only, so the backend, the session and every writer share one rule.
"""

from __future__ import annotations

import unicodedata

_CONTROL_PICTURES = {0x1B: "␛", 0x7F: "␡", 0x09: "␉", 0x0A: "␤", 0x0D: "␍"}


def printable(text: str) -> str:
    """`text` with every control or invisible format character replaced by a visible stand-in.

    An escape sequence in a prompt (`\\x1b[2J`) becomes `␛[2J`: shown, never obeyed.
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
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
