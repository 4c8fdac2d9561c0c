"""The profile's JSON schema, generated from its one definition: the typed classes of ``profile/file.py``, plus
the one rule of ``profile/checks.py`` a JSON schema can say (a schema-version-2 profile holds its staleness table).

``profile.schema.json`` beside this module is this module's output, committed for readers and other tools;
loading never reads it (msgspec validates from the classes themselves). After changing a class, regenerate it:

    python -m profiling_dit.profile.schema > src/profiling_dit/profile/profile.schema.json

``python -m profiling_dit.profile.schema --check`` exits with 1 when the committed file differs.
"""

from __future__ import annotations

import functools
import json
import sys

import msgspec

from .file import KIND, SCHEMA_PATH, Profile

TITLE = "ProfilingDiT profile, schema versions 1 and 2"
DESCRIPTION = (
    "The file `pdit profile` / `profiling_dit.profile_model` writes. Generated from the classes of "
    "profiling_dit/profile/file.py (`python -m profiling_dit.profile.schema`), which also validate every file "
    "profiling_dit.Profile.load reads; it then checks what a schema cannot (lists that pair have matching lengths, "
    "the split covers every block once, named steps exist and increase, ...). Documented in docs/profile-format.md."
)
_HAS_STALENESS = {"$ref": "#/$defs/Staleness"}
COMMAND = "python -m profiling_dit.profile.schema > src/profiling_dit/profile/profile.schema.json"


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    schema = msgspec.json.schema(Profile)
    profile = schema["$defs"]["Profile"]
    del profile["properties"]["views"]  # not saved: the pictures' inputs of a profile just measured
    profile["description"] = ("A profile. Its block fields (r_attn, block_scores, split, schedule, staleness) are "
                              "the transformer's; for a two-expert pipeline the first expert's, and `experts` "
                              "holds both. From schema version 2 every block profile holds its staleness table.")
    profile["if"] = {"properties": {"schema_version": {"const": 2}}}  # what checks.py checks, for other tools
    profile["then"] = {"required": ["staleness"], "properties": {
        "staleness": _HAS_STALENESS, "experts": {"items": {"required": ["staleness"], "properties": {
            "staleness": _HAS_STALENESS}}}}}
    out = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": KIND, "title": TITLE,
           "description": DESCRIPTION, **schema}
    return json.dumps(out, indent=2, ensure_ascii=False) + "\n"


def profile_schema() -> dict:
    """The JSON schema of a profile file (Draft 2020-12), generated from ``Profile``."""
    return json.loads(_schema_text())


def schema_text() -> str:
    """``profile_schema()`` as the committed file holds it."""
    return _schema_text()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        if SCHEMA_PATH.read_text(encoding="utf-8") != schema_text():
            print(f"{SCHEMA_PATH.name} differs from what profile/file.py generates; regenerate it: {COMMAND}",
                  file=sys.stderr)
            return 1
        return 0
    if args:
        print("usage: python -m profiling_dit.profile.schema [--check]", file=sys.stderr)
        return 2
    sys.stdout.write(schema_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
