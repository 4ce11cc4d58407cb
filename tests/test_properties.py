"""Property tests over the backend, beyond tests/test_attention.py's agreement with SDPA.

Valid configs here reach the corners that one leaves out: one word, d_model 1, many heads, the
whole temperature range, every seed torch accepts, the smallest vocab that fits, any Unicode.
Invalid configs: exactly one ConfigError per bad field, naming it, and no other exception, ever.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from attn_tui.attention import compute, random_tables
from attn_tui.config import (
    FIELD_NAMES,
    INT_FIELDS,
    MAX_DIM,
    MAX_HEADS,
    MAX_SEED,
    MAX_TEMPERATURE,
    MAX_VOCAB_SIZE,
    MIN_SEED,
    MIN_TEMPERATURE,
    AttentionConfig,
    ConfigError,
    field_problems,
    parse_field,
    tokenize,
)

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any character at all, control characters, surrogates and odd spaces included: the prompt is text.
any_char = st.characters(codec=None, exclude_characters="")
word = st.text(st.characters(blacklist_categories=("Zs", "Zl", "Zp", "Cc"), blacklist_characters="\x1c\x1d\x1e\x1f"),
               min_size=1, max_size=6) | st.sampled_from(["我", "❤️", "👨‍👩‍👧", "\x1b[2J", "cafe\u0301", "a\u200bb",
                                                          "\u202eevil", "אני", "I", "i", "Attention"])
separator = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u3000", " \r\n "])


@st.composite
def prompts(draw, max_words: int = 20) -> str:
    words = draw(st.lists(word, min_size=1, max_size=max_words))
    seps = draw(st.lists(separator, min_size=len(words) + 1, max_size=len(words) + 1))
    return seps[0] + "".join(w + s for w, s in zip(words, seps[1:], strict=True))


@st.composite
def valid_configs(draw) -> AttentionConfig:
    heads = draw(st.sampled_from([1, 1, 2, 3, 4, 8]))
    prompt = draw(prompts())
    mode = draw(st.sampled_from(["seed", "dense"]))
    top_id = max(tokenize(prompt, mode).token_ids)
    return AttentionConfig(
        prompt=prompt,
        seed=draw(st.integers(MIN_SEED, MAX_SEED) | st.sampled_from([MIN_SEED, MAX_SEED, 0, -1])),
        vocab_size=top_id + 1 + draw(st.sampled_from([0, 0, 1, 7, 500])),  # often the smallest that fits
        d_model=draw(st.integers(1, 12)),
        d_k=heads * draw(st.integers(1, 6)),
        d_v=heads * draw(st.integers(1, 6)),
        heads=heads,
        causal=draw(st.booleans()),
        temperature=draw(st.floats(MIN_TEMPERATURE, MAX_TEMPERATURE) | st.sampled_from(
            [MIN_TEMPERATURE, MAX_TEMPERATURE, 1.0])),
        vocab_mode=mode,
    )


@FAST
@given(valid_configs())
@example(AttentionConfig(prompt="one"))
@example(AttentionConfig(prompt="a b", temperature=MIN_TEMPERATURE, causal=True, d_model=1, vocab_size=2))
def test_any_valid_config_computes_an_honest_result(config):
    assert field_problems(config) == []
    r = compute(config)
    T, H = len(config.prompt.split()), config.heads
    hk, hv = config.d_k // H, config.d_v // H
    assert r.words == tuple(config.prompt.split())
    assert (r.n_tokens, len(r.token_ids)) == (T, T)
    assert max(r.token_ids) < config.vocab_size
    for name, shape in [("embeddings", (T, config.d_model)), ("w_query", (config.d_model, config.d_k)),
                        ("w_key", (config.d_model, config.d_k)), ("w_value", (config.d_model, config.d_v)),
                        ("query", (T, config.d_k)), ("key", (T, config.d_k)), ("value", (T, config.d_v)),
                        ("scores", (H, T, T)), ("scaled", (H, T, T)), ("weights", (H, T, T)),
                        ("context", (T, config.d_v))]:
        tensor = getattr(r, name)
        assert tuple(tensor.shape) == shape, name
        assert tensor.dtype == torch.float32 and tensor.device.type == "cpu" and not tensor.requires_grad, name
        if name != "scaled":
            assert torch.isfinite(tensor).all(), name

    # Embeddings are rows of the seed's table; nothing else decides them.
    table = random_tables(config.seed, config.vocab_size, config.d_model, config.d_k, config.d_v).table
    assert torch.equal(r.embeddings, table[list(r.token_ids)])

    upper = torch.ones(T, T, dtype=torch.bool).triu(1)
    assert torch.isfinite(r.scaled[:, ~upper]).all()
    if config.causal:
        assert torch.isneginf(r.scaled[:, upper]).all()
        assert (r.weights[:, upper] == 0).all()
        assert torch.allclose(r.weights[:, 0, 0], torch.ones(H))  # the first query sees only itself
    else:
        assert torch.isfinite(r.scaled).all()
    assert ((r.weights >= 0) & (r.weights <= 1)).all()
    assert torch.allclose(r.weights.sum(-1), torch.ones(H, T), atol=1e-5)

    # The stages are what they say they are, per head, against the oracle.
    q = r.query.view(T, H, hk).transpose(0, 1)
    k = r.key.view(T, H, hk).transpose(0, 1)
    v = r.value.view(T, H, hv).transpose(0, 1)
    assert torch.allclose(r.scores, q @ k.transpose(-2, -1), rtol=1e-5, atol=1e-5)
    scale = math.sqrt(hk) * config.temperature
    finite = torch.isfinite(r.scaled)
    assert torch.allclose(r.scaled[finite], (r.scores / scale)[finite], rtol=1e-5, atol=1e-6)
    want = F.scaled_dot_product_attention(q, k, v, is_causal=config.causal, scale=1 / scale)
    tolerance = 1e-4 * (1 + float(v.abs().max()))
    assert torch.allclose(r.context, want.transpose(0, 1).reshape(T, config.d_v), rtol=1e-4, atol=tolerance)


@FAST
@given(valid_configs(), valid_configs())
def test_same_config_same_tensors_whatever_ran_between(config, other):
    first = compute(config)
    random_tables.cache_clear()
    torch.manual_seed(12345)
    compute(other)
    torch.rand(7)
    again = compute(config)
    for name in ("embeddings", "w_query", "w_key", "w_value", "scores", "scaled", "weights", "context"):
        assert torch.equal(getattr(first, name), getattr(again, name)), name


@FAST
@given(prompts(max_words=40), st.sampled_from(["seed", "dense"]))
def test_vocab_rules(prompt, mode):
    words, vocab, ids = tokenize(prompt, mode)
    assert words == tuple(prompt.split())
    assert list(vocab.values()) == sorted(vocab.values()), "id order"
    assert all(vocab[w.lower()] == i for w, i in zip(words, ids, strict=True))
    if mode == "dense":
        assert sorted(vocab.values()) == list(range(len(vocab)))
    else:  # the notebook's: the last index of the word in the case-sensitive sort
        ordered = sorted(words)
        assert all(i == max(j for j, w in enumerate(ordered) if w.lower() == key) for key, i in vocab.items())
        assert max(ids) <= len(words) - 1


# -- invalid: one bad field, exactly one ConfigError naming it --------------------------------------

huge = st.integers(10**8, 10**60) | st.sampled_from([10**400, -(10**400), 10**5000])
not_numbers = st.sampled_from([None, "3", "", [], (), {}, object(), b"3", 1j, True, False])
BAD = {
    "prompt": st.sampled_from(["", " ", "\t\n\u3000", None, 42, b"bytes", "x" * 100_001]) | st.text(
        st.sampled_from(" \t\n\r\u00a0\u2003\u3000\u2028"), max_size=20),
    "seed": st.integers(MAX_SEED + 1, MAX_SEED * 4) | st.integers(MIN_SEED * 4, MIN_SEED - 1) | not_numbers
    | st.floats() | st.sampled_from([10**5000]),
    "vocab_size": st.integers(-(10**6), 0) | st.integers(MAX_VOCAB_SIZE + 1, 10**9) | huge | not_numbers
    | st.floats(),
    "d_model": st.integers(-100, 0) | st.integers(MAX_DIM + 1, 10**7) | huge | not_numbers | st.floats(),
    "d_k": st.integers(-100, 0) | st.integers(MAX_DIM + 1, 10**7) | huge | not_numbers | st.floats(),
    "d_v": st.integers(-100, 0) | st.integers(MAX_DIM + 1, 10**7) | huge | not_numbers | st.floats(),
    "heads": st.integers(-100, 0) | st.integers(MAX_HEADS + 1, 10**6) | huge | not_numbers | st.floats(),
    "temperature": st.floats(max_value=MIN_TEMPERATURE, exclude_max=True) | st.floats(
        min_value=MAX_TEMPERATURE, exclude_min=True) | st.sampled_from(
        [float("nan"), float("inf"), -float("inf"), 0, -0.0, 10**400, -(10**400), 10**5000, None, "1", True]),
    "causal": st.sampled_from([None, 0, 1, "yes", "", [], 1.0]),
    "vocab_mode": st.sampled_from(["", "SEED", "bpe", None, 0, [], "seed ", "\x1b[2J"]) | st.text(max_size=8).filter(
        lambda s: s not in ("seed", "dense")),
}


@st.composite
def broken_configs(draw) -> tuple[AttentionConfig, str]:
    base = draw(valid_configs())
    field = draw(st.sampled_from(sorted(BAD)))
    value = draw(BAD[field])
    assume(not (field == "temperature" and isinstance(value, float) and math.isnan(value) is False
                and MIN_TEMPERATURE <= value <= MAX_TEMPERATURE))
    return base.replace(**{field: value}), field


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_configs())
@example((AttentionConfig(temperature=10**400), "temperature"))
@example((AttentionConfig(d_k=10**5000), "d_k"))
@example((AttentionConfig(seed=10**5000), "seed"))
def test_one_bad_field_one_error_naming_it(case):
    config, field = case
    problems = field_problems(config)
    assert [p.field for p in problems] == [field], [str(p) for p in problems]
    message = str(problems[0])
    assert message and "\n" not in message and len(message) < 300
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in message)
    with pytest.raises(ConfigError) as caught:
        compute(config)
    assert caught.value.field == field


@FAST
@given(valid_configs(), st.integers(2, 64))
def test_heads_that_do_not_divide_are_the_heads_fault(config, heads):
    assume(config.d_k % heads or config.d_v % heads)
    bad = config.replace(heads=heads)
    assert [p.field for p in field_problems(bad)] == ["heads"]
    with pytest.raises(ConfigError, match="does not divide"):
        compute(bad)


@FAST
@given(valid_configs())
def test_a_vocab_one_too_small_is_the_vocab_sizes_fault(config):
    top = max(tokenize(config.prompt, config.vocab_mode).token_ids)
    bad = config.replace(vocab_size=top)
    assume(top >= 1)
    problems = field_problems(bad)
    assert [p.field for p in problems] == ["vocab_size"]
    assert f"at least {top + 1:,}" in str(problems[0])


# -- parsing what people type: a value of the right type, or a ConfigError, nothing else ------------

@settings(max_examples=500, deadline=None)
@given(st.sampled_from([f for f in FIELD_NAMES if f != "prompt"]),
       st.text(any_char, max_size=30) | st.text(st.sampled_from("0123456789_+- .eE\u0663\uff10"), max_size=60)
       | st.integers(4000, 6000).map(lambda n: "9" * n) | st.integers(4000, 6000).map(lambda n: "0" * n + "1"))
def test_parse_field_never_raises_anything_but_config_error(field, text):
    try:
        value = parse_field(field, text)
    except ConfigError as error:
        assert error.field == field
        assert "\n" not in str(error) and len(str(error)) < 300
        return
    if field in INT_FIELDS:
        assert type(value) is int
    elif field == "temperature":
        assert type(value) is float
    elif field == "causal":
        assert type(value) is bool
    else:
        assert isinstance(value, str)
    field_problems(AttentionConfig().replace(**{field: value}))  # and validating it never raises either
