"""Names: the identifier rule of the format, and "did you mean" suggestions."""
from __future__ import annotations

import difflib
import re
from typing import Sequence

# fullmatch, not match with $: "$" also matches before a trailing newline.
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def suggest(name: str, choices: Sequence[str]) -> str:
    """`" (did you mean 'relu'?)"` or an empty string."""
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), choice)
    close = [by_lower[c] for c in
             difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)]
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"
