"""What the commands print: every success line is read here, and no literal that meant to be an f-string is left.

ruff's RUF027 (enabled in pyproject.toml) finds a lone literal with a placeholder; it does not look inside an
implicitly joined string, where a continued line that lost its ``f`` prints ``{…}`` to users (it happened in
``pdit generate --compare-to stock``). ``lost_f_prefixes`` finds those.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z_0-9]*[\[.}!:]")
F_PREFIX = re.compile(r"(?i)[rb]*f")


def _joined_strings(source: str):
    """Each implicitly joined string literal as its pieces: (is an f-string, text, line)."""
    group: list[tuple[bool, str, int]] = []
    fstring: list = []  # Python 3.12+: an f-string is FSTRING_START ... FSTRING_END
    start = getattr(tokenize, "FSTRING_START", None)
    end = getattr(tokenize, "FSTRING_END", None)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if fstring:
            fstring.append(tok.string)
            if tok.type == end:
                group.append((True, "".join(fstring), tok.start[0]))
                fstring = []
        elif tok.type == start:
            fstring = [tok.string]
        elif tok.type == tokenize.STRING:
            group.append((bool(F_PREFIX.match(tok.string)), tok.string, tok.start[0]))
        elif tok.type in (tokenize.NL, tokenize.COMMENT) and group:
            continue
        else:
            if len(group) > 1:
                yield group
            group = []


def lost_f_prefixes(source: str) -> list[int]:
    """Lines of plain pieces with a placeholder, joined to an f-string: a continued line that lost its ``f``."""
    return [line for group in _joined_strings(source) if any(f for f, _, _ in group)
            for f, text, line in group if not f and PLACEHOLDER.search(text)]


def test_the_check_finds_the_lost_prefix_it_was_written_for():
    source = ("def report(extra, t):\n"
              "    return (f\"stock {t:.1f} s; \"\n"
              "            \"measured {extra['compare']['stock_transformer_s']:.1f} s \"\n"
              "            f\"(stock) -> {t:.1f} s\")\n"
              "x = '{not joined}'\n"
              "y = 'a {b}' 'c'\n"
              "z = f'{x}' ' and {1} apart'\n")
    assert lost_f_prefixes(source) == [3]


def test_no_joined_string_lost_its_f_prefix():
    files = [p for d in ("src", "tests", "benchmarks", "tools") for p in (ROOT / d).rglob("*.py")]
    found = [f"{p.relative_to(ROOT)}:{line}" for p in files for line in lost_f_prefixes(p.read_text())]
    assert found == []
