"""Tokenizers: tokenizer.json through `tokenizers`, or rebuilt from a GGUF's vocabulary; tokens made readable.

The ids are the model's own (checked against transformers' AutoTokenizer in the fixtures); the
readable strings follow one convention for every kind of vocabulary: a space is "▁", a newline "↵",
a tab "⇥", and bytes that are not whole printable characters "<0xF0>".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from attn_tui.models.base import CheckpointError
from attn_tui.models.result import Tokens


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte → printable character table, which byte-level BPE vocabularies are spelled in."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


_UNICODE_TO_BYTE = {c: b for b, c in bytes_to_unicode().items()}
_SHOWN = {" ": "▁", "\n": "↵", "\t": "⇥"}


def _show_bytes(data: bytes) -> str:
    """Bytes as readable text: whole printable characters as themselves, the rest as <0xNN>."""
    out: list[str] = []
    i = 0
    while i < len(data):
        # Take the shortest run from i that decodes as UTF-8 (at most 4 bytes make a character).
        for width in (1, 2, 3, 4):
            try:
                ch = data[i : i + width].decode("utf-8")
            except UnicodeDecodeError:
                continue
            break
        else:
            out.append(f"<0x{data[i]:02X}>")
            i += 1
            continue
        if ch in _SHOWN:
            out.append(_SHOWN[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            out.extend(f"<0x{b:02X}>" for b in ch.encode("utf-8"))
        i += width
    return "".join(out)


def readable(token: str) -> str:
    """A byte-level token as readable text: "Ġhello" → "▁hello"; a piece of an emoji → "<0xF0><0x9F>"."""
    if not all(c in _UNICODE_TO_BYTE for c in token):
        return token  # a control token (<|im_start|>), spelled as itself
    return _show_bytes(bytes(_UNICODE_TO_BYTE[c] for c in token))


def _is_byte_token(token: str) -> bool:
    return len(token) == 6 and token.startswith("<0x") and token.endswith(">")


def readable_piece(token: str) -> str:
    """A SentencePiece token as readable text: "▁hello" stays; a byte-fallback "<0x0A>" → "↵"."""
    if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
        try:
            value = int(token[3:5], 16)
        except ValueError:
            return token
        return _show_bytes(bytes([value]))
    return "".join(_SHOWN.get(c, c) for c in token)


def readable_word(token: str) -> str:
    """A WordPiece token, shown as it is ("##izer"), control characters aside."""
    return "".join(c if c.isprintable() else f"<0x{ord(c):02X}>" for c in token) if not token.isprintable() \
        else token


_READERS = {"bytelevel": readable, "sentencepiece": readable_piece, "wordpiece": readable_word}


class TextTokenizer:
    """A `tokenizers.Tokenizer` plus what the result needs: readable tokens, special flags, offsets."""

    def __init__(self, tokenizer: Any, style: str, vocab_size: int, unk: str | None = None) -> None:
        self.tokenizer = tokenizer
        self.style = style
        """"bytelevel", "sentencepiece" or "wordpiece": how tokens are made readable."""
        self.vocab_size = vocab_size
        """Ids the tokenizer can produce (at most the model's embedding rows)."""
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        self.id_to_token = {i: t for t, i in vocab.items()}
        self.special_ids = {i for i, added in tokenizer.get_added_tokens_decoder().items()
                            if added.special and added.content != unk and not _is_byte_token(added.content)}
        """Ids of special added tokens ([CLS], <|im_start|>…) wherever they appear; the unknown token and
        byte-fallback tokens (<0xE2>, which some files list as added tokens) are text, not sinks."""
        self.added_ids = frozenset(tokenizer.get_added_tokens_decoder())
        """Ids of every added token, special or not ([PAD], [UNK], <|endoftext|>…): none of them is ordinary text."""

    def token_to_id(self, token: str) -> int | None:
        return self.tokenizer.token_to_id(token)

    def encode(self, text: str, causal: bool) -> Tokens:
        enc = self.tokenizer.encode(text)  # with the special tokens the post-processor adds
        ids = tuple(enc.ids)
        show = _READERS[self.style]
        tokens = tuple(show(self.id_to_token.get(i, f"<{i}>")) for i in ids)
        offsets = tuple(None if added and start == end else (start, end)
                        for added, (start, end) in zip(enc.special_tokens_mask, enc.offsets, strict=True))
        special = tuple(
            bool(added) or i in self.special_ids or (causal and n == 0)
            for n, (i, added) in enumerate(zip(ids, enc.special_tokens_mask, strict=True))
        )
        return Tokens(ids=ids, tokens=tokens, special=special, offsets=offsets)

    def readable_token(self, token_id: int) -> str:
        """One id as the result's tokens are shown ("▁cat"); "<12345>" for an id the vocabulary lacks."""
        token = self.id_to_token.get(token_id)
        return f"<{token_id}>" if token is None else _READERS[self.style](token)

    def token_bytes(self, token_id: int) -> bytes:
        """The text one id stands for, as UTF-8 bytes (a piece of a character may be one byte of it).

        Byte-level tokens map back through GPT-2's byte table, SentencePiece "▁" is a space and "<0xNN>"
        its byte, WordPiece "##" continues a word (other pieces get a space before them); control
        tokens (<|im_end|>) are spelled as themselves. An id the vocabulary lacks gives nothing.
        """
        token = self.id_to_token.get(token_id)
        if token is None:
            return b""
        if token_id in self.special_ids:
            return token.encode("utf-8")
        if self.style == "bytelevel":
            if all(c in _UNICODE_TO_BYTE for c in token):
                return bytes(_UNICODE_TO_BYTE[c] for c in token)
            return token.encode("utf-8")
        if self.style == "sentencepiece":
            if _is_byte_token(token):
                try:
                    return bytes([int(token[3:5], 16)])
                except ValueError:
                    return token.encode("utf-8")
            return token.replace("▁", " ").encode("utf-8")
        return (token[2:] if token.startswith("##") else " " + token).encode("utf-8")

    def added_names(self) -> list[str]:
        """The tokens the post-processor adds to every prompt ([CLS], [SEP], <s>…), in order."""
        enc = self.tokenizer.encode("a")
        return [t for t, added in zip(enc.tokens, enc.special_tokens_mask, strict=True) if added]


def _style(spec: dict[str, Any]) -> str:
    text = json.dumps({k: spec.get(k) for k in ("pre_tokenizer", "decoder", "normalizer")})
    model = spec.get("model") or {}
    if model.get("type") == "WordPiece":
        return "wordpiece"
    if '"ByteLevel"' in text:
        return "bytelevel"
    if '"Metaspace"' in text or model.get("byte_fallback") or '"Prepend"' in text:
        return "sentencepiece"
    return "wordpiece"  # shown as they are


def from_file(path: Path, vocab_size: int) -> TextTokenizer:
    """The tokenizer of a Hugging Face folder, from its tokenizer.json (no padding, no truncation)."""
    from tokenizers import Tokenizer

    if not path.is_file():
        raise CheckpointError(f"{path.parent}: no tokenizer.json (attn-tui reads the tokens from it; a folder "
                              "saved with transformers' save_pretrained has one)")
    try:
        text = path.read_text(encoding="utf-8")
        spec = json.loads(text)
        tokenizer = Tokenizer.from_str(text)
    except (OSError, UnicodeDecodeError, ValueError, Exception) as error:  # noqa: BLE001 — tokenizers raises plain Exception
        raise CheckpointError(f"{path}: not a tokenizer file tokenizers can read ({_first_line(error)})") from None
    # Files saved for training pad and truncate (MiniLM's to 128): we want the prompt's own length,
    # and a prompt past the limit refused, not silently cut.
    tokenizer.no_padding()
    tokenizer.no_truncation()
    biggest = max(tokenizer.get_vocab(with_added_tokens=True).values(), default=-1)
    if biggest >= vocab_size:
        raise CheckpointError(f"{path}: the tokenizer has ids up to {biggest}, but the model's vocabulary "
                              f"has {vocab_size} rows")
    model = spec.get("model") if isinstance(spec, dict) else None
    unk = model.get("unk_token") if isinstance(model, dict) else None
    return TextTokenizer(tokenizer, _style(spec), vocab_size, unk if isinstance(unk, str) else None)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


# ── GGUF: the vocabulary inside the file ─────────────────────────────────────────────────────────

TOKEN_TYPE_CONTROL = 3
"""llama.cpp's token type for special tokens such as <|im_start|>."""
TOKEN_TYPE_USER_DEFINED = 4

# llama.cpp's pre-tokenizer names (tokenizer.ggml.pre) → the regex it splits with before the byte-level
# BPE (llama-vocab.cpp), as a `tokenizers` pre-tokenizer. Each is checked against transformers'
# tokenizer of the same vocabulary (tests/test_checkpoints.py, fixtures made from real tokenizer.json).
_GPT2_REGEX = None  # ByteLevel(use_regex=True) is GPT-2's own split
_LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
GGUF_PRE_TOKENIZERS: dict[str, tuple[str, str | None, bool]] = {
    "gpt-2": ("plain", _GPT2_REGEX, False),
    "smollm": ("digits", _GPT2_REGEX, False),
    "llama-bpe": ("plain", _LLAMA3_REGEX, True),
    "qwen2": ("plain", _QWEN2_REGEX, False),
}
"""tokenizer.ggml.pre → (extra split first, regex, ignore_merges). "digits": every digit on its own first
(SmolLM2); ignore_merges: a piece that is a whole vocabulary entry is taken as it is (Llama 3)."""


def generate_merges(vocab: dict[str, int], scores: dict[str, float]) -> list[tuple[str, str]]:
    """BPE merges a SentencePiece vocabulary implies: every split of a token into two tokens, best score first.

    transformers' `generate_merges` (tokenization_utils_base.py), which its GGUF loader uses for
    files that store scores and no merges; the same order, so the same ids.
    """
    merges = []
    for piece, score in scores.items():
        local = [(piece[:i], piece[i:], score) for i in range(1, len(piece))
                 if piece[:i] in vocab and piece[i:] in vocab]
        local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: (m[2], len(m[0]), len(m[1])), reverse=True)
    return [(left, right) for left, right, _ in merges]


def _added_tokens(tokens: list[str], types: list[int], byte_level: bool) -> list[Any]:
    """Control tokens as special added tokens, user-defined ones as plain added tokens (as transformers does)."""
    from tokenizers import AddedToken

    spelled = set(bytes_to_unicode().values()) if byte_level else None
    added = []
    for token, kind in zip(tokens, types, strict=True):
        if kind == TOKEN_TYPE_CONTROL and (spelled is None or set(token) <= spelled):
            added.append(AddedToken(token, special=True, normalized=False))
        elif kind == TOKEN_TYPE_USER_DEFINED:
            added.append(AddedToken(token, special=False, normalized=False))
    return added


def _bos_processor(tokens: list[str], bos: Any) -> Any:
    from tokenizers import processors

    return processors.TemplateProcessing(single=f"{tokens[bos]}:0 $A:0",
                                         pair=f"{tokens[bos]}:0 $A:0 {tokens[bos]}:1 $B:1",
                                         special_tokens=[(tokens[bos], bos)])


def _vocabulary(metadata: dict[str, Any], vocab_size: int, where: str) -> tuple[list[str], list[int]]:
    tokens = metadata.get("tokenizer.ggml.tokens")
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        raise CheckpointError(f"{where}: the vocabulary (tokenizer.ggml.tokens) is missing or malformed")
    if len(tokens) > vocab_size:
        raise CheckpointError(f"{where}: {len(tokens)} tokens but the embedding has {vocab_size} rows")
    types = metadata.get("tokenizer.ggml.token_type", [1] * len(tokens))
    if not isinstance(types, list) or len(types) != len(tokens):
        raise CheckpointError(f"{where}: tokenizer.ggml.token_type does not match the vocabulary")
    return tokens, types


def _parse_merges(merges: list[Any], where: str) -> list[tuple[str, str]]:
    """"left right" strings → pairs; a merge without its space is a corrupt file."""
    pairs = []
    for merge in merges:
        left, sep, right = str(merge).partition(" ")
        if not sep:
            raise CheckpointError(f"{where}: malformed merge {merge!r}")
        pairs.append((left, right))
    return pairs


def _sentencepiece(metadata: dict[str, Any], vocab_size: int, where: str) -> TextTokenizer:
    """llama.cpp's "llama" vocabulary (Llama 2, Mistral, TinyLlama): BPE from scores, byte fallback, "▁".

    Built as transformers' GGUF loader builds it (its LlamaTokenizer: Metaspace, prepend "▁" to the
    first word, no split, merges from the scores), and a BOS when the file asks (llama.cpp's default).
    """
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokens, types = _vocabulary(metadata, vocab_size, where)
    vocab: dict[str, int] = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    merges = metadata.get("tokenizer.ggml.merges")
    if isinstance(merges, list) and merges:
        pairs = _parse_merges(merges, where)
    else:
        scores = metadata.get("tokenizer.ggml.scores")
        if not isinstance(scores, list) or len(scores) != len(tokens):
            raise CheckpointError(f"{where}: a SentencePiece vocabulary without scores (tokenizer.ggml.scores)")
        pairs = generate_merges(vocab, dict(zip(tokens, scores, strict=True)))
    try:
        tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=True, byte_fallback=True))
    except Exception as error:  # noqa: BLE001 — tokenizers raises plain Exception on a bad merge
        raise CheckpointError(f"{where}: the vocabulary cannot be built ({_first_line(error)})") from None
    prefix = metadata.get("tokenizer.ggml.add_space_prefix", True)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first" if prefix else "never",
                                                 split=False)
    tok.add_special_tokens([a for a in _added_tokens(tokens, types, byte_level=False) if a.special])
    tok.add_tokens([a for a in _added_tokens(tokens, types, byte_level=False) if not a.special])
    bos = metadata.get("tokenizer.ggml.bos_token_id")
    if metadata.get("tokenizer.ggml.add_bos_token", True) and isinstance(bos, int) and 0 <= bos < len(tokens):
        tok.post_processor = _bos_processor(tokens, bos)
    return TextTokenizer(tok, "sentencepiece", vocab_size)


def from_gguf(metadata: dict[str, Any], vocab_size: int, where: str) -> TextTokenizer:
    """The tokenizer rebuilt from a GGUF's tokenizer.ggml.* keys: byte-level BPE ("gpt2") or SentencePiece ("llama")."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    kind = metadata.get("tokenizer.ggml.model")
    if kind == "llama":
        return _sentencepiece(metadata, vocab_size, where)
    if kind != "gpt2":
        raise CheckpointError(f"{where}: its tokenizer is {kind!r}; attn-tui rebuilds byte-level BPE ('gpt2') "
                              "and SentencePiece ('llama') vocabularies")
    pre = metadata.get("tokenizer.ggml.pre", "default")
    if pre not in GGUF_PRE_TOKENIZERS:
        raise CheckpointError(f"{where}: its pre-tokenizer {pre!r} is not one attn-tui has checked against "
                              f"transformers ({', '.join(GGUF_PRE_TOKENIZERS)})")
    tokens, types = _vocabulary(metadata, vocab_size, where)
    merges = metadata.get("tokenizer.ggml.merges")
    if not isinstance(merges, list):
        raise CheckpointError(f"{where}: a byte-level vocabulary without merges (tokenizer.ggml.merges)")
    pairs = _parse_merges(merges, where)
    vocab: dict[str, int] = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    first, regex, ignore_merges = GGUF_PRE_TOKENIZERS[pre]
    try:
        tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs, ignore_merges=ignore_merges))
    except Exception as error:  # noqa: BLE001 — tokenizers raises plain Exception on a bad merge
        raise CheckpointError(f"{where}: the vocabulary cannot be built ({_first_line(error)})") from None
    steps: list[Any] = []
    if first == "digits":
        steps.append(pre_tokenizers.Digits(individual_digits=True))
    if regex is None:
        steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True))
    else:
        steps.append(pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False))
        steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(steps)
    tok.decoder = decoders.ByteLevel()
    added = _added_tokens(tokens, types, byte_level=True)
    tok.add_special_tokens([a for a in added if a.special])
    tok.add_tokens([a for a in added if not a.special])
    bos = metadata.get("tokenizer.ggml.bos_token_id")
    if metadata.get("tokenizer.ggml.add_bos_token") and isinstance(bos, int) and 0 <= bos < len(tokens):
        tok.post_processor = _bos_processor(tokens, bos)
    return TextTokenizer(tok, "bytelevel", vocab_size)
