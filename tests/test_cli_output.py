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


# --- every command's success path, as a user reads it -----------------------------------------------------------
TINY = ["--model", "tiny", "--frames", "5", "--height", "32", "--width", "32", "--steps", "4"]
PROMPT = "a red circle moving right over grass"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run ``pdit ARGS`` in-process; returns its lines (stdout and stderr), after checking it exited 0."""
    from typer.testing import CliRunner

    from profiling_dit.cli.app import app

    runner = CliRunner()

    def invoke(*args) -> list[str]:
        res = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        return [line for line in res.output.splitlines() if line.strip()]

    invoke.folder = tmp_path_factory.mktemp("cli-output")
    return invoke


def _no_placeholder(lines: list[str]) -> None:
    left = [line for line in lines if "{" in line or "}" in line or "None" in line.split()]
    assert left == [], "\n".join(left)


@pytest.mark.slow
def test_every_command_prints_what_it_did(run):
    d = run.folder
    lines = run("profile", *TINY, "--prompt", PROMPT, "--generations", 3, "--budgets", 0.5, "--out", d / "p.json")
    assert any(line.startswith(f"Wrote {d / 'p.json'}") for line in lines)
    assert any("calibrated, budget 0.5" in line for line in lines)
    assert any(re.match(r"Calibrating the plans in it took [23] generations of 4 steps", line) for line in lines)
    everything = list(lines)

    lines = run("calibrate", "--profile", d / "p.json", "--generations", 3, "--budgets", 0.5, "--out", d / "c.json")
    assert any(line.startswith(f"Wrote {d / 'c.json'}") for line in lines)
    everything += lines

    lines = run("plan", "--profile", d / "p.json", "--budget", 0.5)
    assert any(line.startswith("ProfilingDiT plan (calibrated for budget 0.5") for line in lines)
    everything += lines

    lines = run("generate", "--profile", d / "p.json", "--prompt", PROMPT, "--compare-to", "stock", "--report",
                d / "run.json", "--out", d / "v.mp4")
    compare = [line for line in lines if line.startswith(f"Wrote {d / 'v.compare.mp4'}")]
    assert len(compare) == 1 and "s (stock) ->" in compare[0] and "measured transformer time " in compare[0]
    assert any(line.startswith(f"Wrote {d / 'v.mp4'} (5 frames, 32x32)") and "computed 50%" in line
               for line in lines)
    everything += lines

    lines = run("generate", *TINY, "--prompt", PROMPT, "--out", d / "stock.npy")
    assert any(line.startswith(f"Wrote {d / 'stock.npy'} (5 frames, 32x32)") for line in lines)
    everything += lines

    lines = run("bench", "--profile", d / "p.json", "--prompts", PROMPT, "--methods", "baseline,profiling-dit",
                "--out", d / "bench")
    assert (d / "bench" / "results.json").is_file() and any("results.json" in line for line in lines)
    everything += lines

    everything += run("models")
    _no_placeholder(everything)


@pytest.mark.slow
def test_the_old_spelling_of_generations_is_taken_with_a_note(run):
    d = run.folder
    run("profile", *TINY, "--prompt", PROMPT, "--out", d / "measured.json")
    lines = run("calibrate", "--profile", d / "measured.json", "--calibrate", 3, "--budgets", 0.5, "--out",
                d / "old.json")
    assert "Note: --calibrate 3 is now spelled --generations 3" in lines
    assert any(line.startswith(f"Wrote {d / 'old.json'}") for line in lines)


def test_a_profile_without_a_staleness_table_is_said_once(run):
    lines = run("plan", "--profile", ROOT / "tests" / "data" / "profile-v1.json", "--steps", 20)
    said = [line for line in lines if "no staleness table" in line]
    assert len(said) == 1 and said[0].startswith("Warning: this profile has no staleness table")
    _no_placeholder(lines)


def test_nothing_filters_or_hides_warnings_by_their_text():
    """A warning is said where it is decided; nothing turns warnings off by message, or all of them around a call."""
    import ast

    found = []
    for path in (ROOT / "src" / "profiling_dit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr == "filterwarnings" and any(k.arg == "message" for k in node.keywords):
                    found.append(f"{path.name}:{node.lineno} filters by message")
                if (node.func.attr == "simplefilter" and node.args and isinstance(node.args[0], ast.Constant)
                        and node.args[0].value == "ignore" and not node.keywords and len(node.args) == 1):
                    found.append(f"{path.name}:{node.lineno} ignores every warning")
    assert found == []


def test_pdit_profile_defaults_are_the_librarys():
    import typer.main

    from profiling_dit.cli.app import app
    from profiling_dit.profile.settings import ProfileSettings

    command = typer.main.get_command(app).commands["profile"]
    defaults = ProfileSettings()
    shown = {p.name: p.default for p in command.params if hasattr(defaults, p.name or "")}
    assert set(shown) >= {"every", "chunk_size", "query_stride", "attn_threshold", "staleness_tokens", "set_ranking"}
    for name, value in shown.items():
        assert (value.value if hasattr(value, "value") else value) == getattr(defaults, name), name
