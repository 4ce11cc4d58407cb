"""The backend against the seed notebook, against PyTorch's own attention, and at its limits."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attn_tui.attention import (
    MAX_TABLE_CELLS,
    AttentionConfig,
    ConfigError,
    compute,
    field_problems,
    parse_field,
    random_tables,
)

NOTEBOOK_EMBEDDINGS = torch.tensor(
    [
        [0.3374, -0.1778, -0.3035],
        [-1.1925, 0.6984, -1.4097],
        [-0.2196, -0.3792, 0.7671],
        [0.1794, 1.8951, 0.4954],
        [0.2692, -0.0770, -1.0205],
        [1.3010, 1.2753, -0.2010],
        [-1.1481, -1.1589, 0.3255],
        [-0.2196, -0.3792, 0.7671],
        [0.4965, -1.5723, 0.9666],
        [1.3010, 1.2753, -0.2010],
    ]
)


def notebook_cells():
    """The seed notebook's own code, cell by cell (it seeds torch's global generator)."""
    from torch.nn import Embedding
    from torch.nn.functional import softmax

    prompt = "Hello World I am an attention seeker I love attention"
    dic_words = {s.lower(): i for i, s in enumerate(sorted(prompt.split(" ")))}
    tokens = [dic_words[i.lower()] for i in prompt.split(" ")]
    tokens_tf = torch.tensor(tokens)
    torch.manual_seed(123)
    vocab_size = 50000
    embedder = Embedding(vocab_size, 3)
    token_embedding = embedder(tokens_tf).detach()
    d = token_embedding.shape[1]
    d_q, d_k, d_v = 24, 24, 28
    w_query = torch.nn.Parameter(torch.rand(d, d_q))
    w_key = torch.nn.Parameter(torch.rand(d, d_k))
    w_value = torch.nn.Parameter(torch.rand(d, d_v))
    query = token_embedding @ w_query
    key = token_embedding @ w_key
    value = token_embedding @ w_value
    q_kt = query @ key.T
    f = q_kt / math.sqrt(d_k)
    s = softmax(f, dim=-1)
    context_vector = s @ value
    return dict(
        vocab=dic_words, tokens=tokens, embeddings=token_embedding, w_query=w_query.detach(),
        w_key=w_key.detach(), w_value=w_value.detach(), query=query.detach(), key=key.detach(),
        value=value.detach(), scores=q_kt.detach(), scaled=f.detach(), weights=s.detach(),
        context=context_vector.detach(),
    )


def test_defaults_reproduce_the_notebook():
    nb = notebook_cells()
    r = compute()
    assert list(r.token_ids) == [0, 3, 2, 4, 5, 7, 9, 2, 8, 7] == nb["tokens"]
    assert dict(r.vocab) == {"hello": 0, "i": 2, "world": 3, "am": 4, "an": 5, "attention": 7,
                             "love": 8, "seeker": 9}
    assert list(r.vocab.values()) == sorted(r.vocab.values()), "vocab is in id order"
    assert torch.allclose(r.embeddings, NOTEBOOK_EMBEDDINGS, atol=5e-5), "the printed table"
    for name in ("embeddings", "w_query", "w_key", "w_value", "query", "key", "value"):
        assert torch.allclose(getattr(r, name), nb[name], atol=2e-6, rtol=0), name
    for name in ("scores", "scaled", "weights"):
        assert getattr(r, name).shape == (1, 10, 10)
        assert torch.allclose(getattr(r, name)[0], nb[name], atol=2e-6, rtol=0), name
    assert torch.allclose(r.context, nb["context"], atol=2e-6, rtol=0)
    assert r.context.shape == (10, 28)


def test_global_random_state_neither_read_nor_disturbed():
    random_tables.cache_clear()
    torch.manual_seed(999)
    before = torch.get_rng_state()
    first = compute(AttentionConfig(seed=7))
    assert torch.equal(torch.get_rng_state(), before), "compute must not draw from the global generator"
    torch.rand(1000)  # move the global state on
    random_tables.cache_clear()
    again = compute(AttentionConfig(seed=7))
    assert torch.equal(first.weights, again.weights)
    assert torch.equal(first.w_value, again.w_value)


def test_prompt_edit_reuses_the_tables():
    random_tables.cache_clear()
    compute(AttentionConfig(prompt="a b c"))
    compute(AttentionConfig(prompt="a b c d"))
    info = random_tables.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_whitespace_runs_make_no_empty_words():
    r = compute(AttentionConfig(prompt="  Hello   World\n\tI  "))
    assert r.words == ("Hello", "World", "I")


def test_dense_vocab_numbers_distinct_words():
    r = compute(AttentionConfig(vocab_mode="dense"))
    assert sorted(r.vocab.values()) == list(range(8))
    assert r.token_ids[0] == r.vocab["hello"]
    assert r.token_ids[5] == r.token_ids[9] == r.vocab["attention"]


def test_heads_slice_the_columns():
    r = compute(AttentionConfig(heads=4))
    T = r.n_tokens
    assert r.weights.shape == (4, T, T)
    for h in range(4):
        q = r.query[:, h * 6:(h + 1) * 6]
        k = r.key[:, h * 6:(h + 1) * 6]
        v = r.value[:, h * 7:(h + 1) * 7]
        att = F.softmax(q @ k.T / math.sqrt(6), dim=-1)
        assert torch.allclose(r.weights[h], att, atol=1e-6)
        assert torch.allclose(r.context[:, h * 7:(h + 1) * 7], att @ v, atol=1e-5)


def test_causal_masks_the_future():
    r = compute(AttentionConfig(causal=True))
    upper = torch.ones(10, 10, dtype=torch.bool).triu(1)
    assert torch.all(r.weights[0][upper] == 0)
    assert torch.all(torch.isneginf(r.scaled[0][upper]))
    assert torch.isfinite(r.scores).all(), "scores are before the mask"
    assert r.weights[0, 0, 0] == 1.0


def test_temperature_divides_the_scaled_scores():
    base = compute()
    hot = compute(AttentionConfig(temperature=2.0))
    assert torch.allclose(hot.scaled, base.scaled / 2, atol=1e-6)
    assert hot.weights.max() < base.weights.max()


words = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=8)


@st.composite
def configs(draw):
    heads = draw(st.sampled_from([1, 2, 3, 4]))
    return AttentionConfig(
        prompt=" ".join(draw(st.lists(words, min_size=1, max_size=24))),
        seed=draw(st.integers(0, 2**32)),
        vocab_size=draw(st.integers(64, 5000)),
        d_model=draw(st.integers(1, 16)),
        d_k=heads * draw(st.integers(1, 8)),
        d_v=heads * draw(st.integers(1, 8)),
        heads=heads,
        causal=draw(st.booleans()),
        temperature=draw(st.floats(0.25, 4.0)),
        vocab_mode=draw(st.sampled_from(["seed", "dense"])),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_agrees_with_scaled_dot_product_attention(config):
    r = compute(config)
    T, H = r.n_tokens, config.heads
    assert r.embeddings.shape == (T, config.d_model)
    assert r.query.shape == r.key.shape == (T, config.d_k)
    assert r.value.shape == r.context.shape == (T, config.d_v)
    assert r.weights.shape == r.scores.shape == r.scaled.shape == (H, T, T)
    q = r.query.view(T, H, -1).transpose(0, 1)
    k = r.key.view(T, H, -1).transpose(0, 1)
    v = r.value.view(T, H, -1).transpose(0, 1)
    scale = 1 / (math.sqrt(config.d_k // H) * config.temperature)
    want = F.scaled_dot_product_attention(q, k, v, is_causal=config.causal, scale=scale)
    assert torch.allclose(r.context, want.transpose(0, 1).reshape(T, -1), atol=1e-4, rtol=1e-4)
    assert torch.isfinite(r.weights).all() and torch.isfinite(r.context).all()
    assert torch.allclose(r.weights.sum(-1), torch.ones(H, T), atol=1e-5)
    if config.causal:
        assert torch.all(r.weights[:, torch.ones(T, T, dtype=torch.bool).triu(1)] == 0)


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"prompt": ""}, "prompt", "empty"),
        ({"prompt": " \n\t "}, "prompt", "empty"),
        ({"prompt": "w " * 5000}, "prompt", "at most 4,096"),
        ({"prompt": "x" * 100_001}, "prompt", "characters"),
        ({"d_model": 0}, "d_model", "allowed 1 to 4,096"),
        ({"d_k": -3}, "d_k", "out of range"),
        ({"d_v": 10_000_000}, "d_v", "allowed 1 to 4,096"),
        ({"d_k": 2.5}, "d_k", "not a whole number"),
        ({"heads": 5}, "heads", "does not divide d_k = 24"),
        ({"heads": 3, "d_v": 28}, "heads", "does not divide d_v = 28"),
        ({"vocab_size": 9}, "vocab_size", "'seeker' has id 9"),
        ({"vocab_size": 10_000_000, "d_model": 4096}, "vocab_size", "ceiling"),
        ({"temperature": 0.0}, "temperature", "out of range"),
        ({"temperature": -1.0}, "temperature", "out of range"),
        ({"temperature": float("nan")}, "temperature", "out of range"),
        ({"temperature": float("inf")}, "temperature", "out of range"),
        ({"vocab_mode": "bpe"}, "vocab_mode", "seed or dense"),
        ({"seed": 2**64}, "seed", "out of range"),
        ({"seed": -(2**63) - 1}, "seed", "out of range"),
        ({"prompt": "w " * 2049, "heads": 8, "d_k": 64, "d_v": 64}, "prompt", "attention cells"),
    ],
)
def test_bad_configs_are_refused_naming_the_field(changes, field, fragment):
    config = AttentionConfig(**changes)
    with pytest.raises(ConfigError) as caught:
        compute(config)
    assert caught.value.field == field
    assert fragment in str(caught.value)
    assert [p.field for p in field_problems(config)][0] == field


def test_vocab_size_exactly_enough_is_accepted():
    assert compute(AttentionConfig(vocab_size=10)).token_ids[6] == 9


def test_table_ceiling_is_allowed_at_the_boundary_without_drawing():
    ok = AttentionConfig(vocab_size=MAX_TABLE_CELLS // 4096, d_model=4096)
    assert field_problems(ok) == []


@pytest.mark.parametrize(
    ("field", "text", "value"),
    [("seed", " 042 ", 42), ("seed", "-7", -7), ("vocab_size", "50_000", 50000), ("d_k", "+24", 24),
     ("temperature", "1e-1", 0.1), ("causal", "On", True), ("causal", "0", False),
     ("vocab_mode", " Dense ", "dense")],
)
def test_parse_field_reads_what_people_type(field, text, value):
    assert parse_field(field, text) == value


@pytest.mark.parametrize(("field", "text"), [("seed", "abc"), ("d_k", "1.5"), ("d_v", ""), ("heads", "1 2"),
                                             ("vocab_size", "1e100"), ("temperature", "warm"),
                                             ("causal", "maybe"), ("d_model", "__3")])
def test_parse_field_refuses_naming_the_field(field, text):
    with pytest.raises(ConfigError) as caught:
        parse_field(field, text)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_backend_imports_without_textual_or_rich():
    code = ("import sys, attn_tui.attention, attn_tui.serialize, attn_tui.cli; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')); "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
