"""What a JSON schema asks of the value at a path, in words ("an integer in [1, 100000]"), for the one-line
message about a refused profile: the profile's schema is generated from its classes (``file.py``), so the words
follow them."""

from __future__ import annotations

import json
import re


def describe(schema: dict, path: list) -> str | None:
    """What the value at ``path`` (keys and indices from the top of a document) must be, in words ("an integer in
    [1, 100000]"); None where the schema does not say."""
    defs = schema["$defs"]
    node: dict | None = schema
    for key in path:
        node = _child(node, key, defs) if node is not None else None
    return _words(node, defs) if node is not None else None


def fits(schema: dict, path: list, value) -> bool:
    """Whether ``value`` is what the schema asks at ``path``, as far as one value's type, bounds and pattern go
    (to find which entry of a dict msgspec refused: it does not name the key)."""
    defs = schema["$defs"]
    node: dict | None = schema
    for key in path:
        node = _child(node, key, defs) if node is not None else None
    return _fits(node, value, defs) if node is not None else True


def _fits(node: dict, value, defs: dict) -> bool:
    node = _resolve(node, defs)
    if "anyOf" in node:
        return any(_fits(alt, value, defs) for alt in node["anyOf"])
    if "enum" in node:
        return any(value == v and type(value) is type(v) for v in node["enum"])
    kind = node.get("type")
    if kind == "string":
        return (isinstance(value, str) and node.get("minLength", 0) <= len(value) <= node.get("maxLength", len(value))
                and ("pattern" not in node or re.search(node["pattern"], value) is not None))
    if kind in ("integer", "number"):
        numeric = (int,) if kind == "integer" else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            return False
        return (value >= node.get("minimum", value) and value <= node.get("maximum", value)
                and ("exclusiveMinimum" not in node or value > node["exclusiveMinimum"])
                and ("exclusiveMaximum" not in node or value < node["exclusiveMaximum"]))
    kinds = {"array": list, "object": dict, "boolean": bool, "null": type(None)}
    return kind not in kinds or isinstance(value, kinds[kind])


def _resolve(node: dict, defs: dict) -> dict:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[1]]
    return node


def _child(node: dict, key, defs: dict) -> dict | None:
    node = _resolve(node, defs)
    for alt in node.get("anyOf", [node]):
        alt = _resolve(alt, defs)
        if isinstance(key, int):
            prefix = alt.get("prefixItems")
            if prefix is not None and key < len(prefix):
                return prefix[key]
            if isinstance(alt.get("items"), dict):
                return alt["items"]
        else:
            if key in alt.get("properties", {}):
                return alt["properties"][key]
            if isinstance(alt.get("additionalProperties"), dict):
                return alt["additionalProperties"]
    return None


def _words(node: dict, defs: dict) -> str:
    node = _resolve(node, defs)
    if "anyOf" in node:
        return " or ".join(_words(alt, defs) for alt in node["anyOf"])
    if "enum" in node:
        values = [json.dumps(v) for v in node["enum"]]
        return values[0] if len(values) == 1 else "one of " + ", ".join(values)
    kind = node.get("type")
    if kind in ("integer", "number"):
        return ("an integer" if kind == "integer" else "a number") + _bounds(node)
    if kind == "string":
        text = "a string"
        if node.get("minLength"):
            text = "a non-empty string"
        if "pattern" in node:
            text += f" ({node['description']})" if "description" in node else f" matching {node['pattern']}"
        if "maxLength" in node:
            text += f" of at most {node['maxLength']} characters"
        return text
    if kind == "array":
        lo, hi = node.get("minItems", 0), node.get("maxItems")
        if hi is not None and lo == hi:
            return f"a list of {lo}"
        text = "a list" if not lo else "a non-empty list" if lo == 1 else f"a list of at least {lo}"
        return text + (f" of at most {hi}" if hi is not None else "")
    if kind == "object":
        return "an object"
    if kind == "boolean":
        return "true or false"
    if kind == "null":
        return "null"
    return "something else"


def _bounds(node: dict) -> str:
    lo, lo_open = (node["exclusiveMinimum"], True) if "exclusiveMinimum" in node else (node.get("minimum"), False)
    hi, hi_open = (node["exclusiveMaximum"], True) if "exclusiveMaximum" in node else (node.get("maximum"), False)
    if node.get("type") == "integer":  # an open bound of an integer is a closed one a step in
        lo, lo_open = (lo + 1, False) if lo is not None and lo_open else (lo, lo_open)
        hi, hi_open = (hi - 1, False) if hi is not None and hi_open else (hi, hi_open)
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{_number(lo)}, {_number(hi)}{')' if hi_open else ']'}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {_number(lo)}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {_number(hi)}"
    return ""


def _number(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)
