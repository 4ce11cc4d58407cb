"""attn-tui: watch self-attention being computed, step by step, in the terminal."""

__version__ = "0.1.0"
