"""The explorer's panes, one widget per module."""
