"""The README is a page for users: short, its headline generated from the results files, its links alive."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _headline_module():
    spec = importlib.util.spec_from_file_location("readme_headline", ROOT / "benchmarks" / "readme_headline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_is_a_page_not_a_notebook():
    assert len(README.read_bytes()) <= 15_000


def test_the_headline_is_what_the_results_files_say():
    headline = _headline_module()
    text = README.read_text()
    assert text.count(headline.START) == 1 and text.count(headline.END) == 1
    assert headline.replace_block(text, headline.headline()) == text, (
        "the README's headline differs from the results files: run python benchmarks/readme_headline.py --write")


def test_the_headline_reads_the_results_it_names():
    headline = _headline_module()
    block = headline.headline()
    for _, _, folder, target, *ours in headline.BENCHES:
        results = headline.RESULTS / folder / "results.json"
        assert results.is_file() and f"`{target}`" in block
        if ours:  # a variant of ours: its lead is in the results
            assert ours[0] in json.loads(results.read_text())["variant_leads"]
    assert "{" not in block and "nan" not in block.lower()


def test_every_link_and_make_target_in_the_docs_exists():
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), re.M))
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (page.parent / link).exists(), f"{page.name}: {link}"
        for target in re.findall(r"`make ([a-z][a-z0-9-]*)", text):
            assert target in targets, f"{page.name}: make {target}"
