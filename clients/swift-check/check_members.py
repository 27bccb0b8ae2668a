#!/usr/bin/env python3
"""Checks that swift-openapi-generator's output models every member of every
object schema of openapi.yaml.

The generator drops some members without a word (an object whose `oneOf`
only lists `required` sets becomes an enum of the sets and loses its own
properties), so a clean, compiling build is not enough: each schema in
components/schemas with `properties` must be a generated struct whose
CodingKeys name each property.

Usage: check_members.py openapi.yaml GENERATED_DIR
"""
import pathlib
import re
import sys

import yaml


def struct_block(source, name):
    """The text of `public struct NAME` directly inside `Components.Schemas`."""
    m = re.search(rf"^        public struct {re.escape(name)}: Codable", source, re.M)
    if not m:
        return None
    end = re.search(r"^        }$", source[m.end():], re.M)
    return source[m.start(): m.end() + (end.start() if end else len(source))]


def main():
    spec_path, generated = sys.argv[1], sys.argv[2]
    schemas = yaml.safe_load(open(spec_path))["components"]["schemas"]
    source = "\n".join(p.read_text() for p in sorted(pathlib.Path(generated).glob("*.swift")))
    problems = []
    checked = 0
    for name, schema in schemas.items():
        members = list(schema.get("properties", {}))
        for part in schema.get("allOf", []):  # inline parts; a $ref part is checked as its own schema
            members += list(part.get("properties", {}))
        if not members:
            continue
        checked += 1
        block = struct_block(source, name)
        if block is None:
            problems.append(f"{name}: no struct {name} in the generated Swift")
            continue
        for prop in members:
            if not re.search(rf'case (\w+ = "{re.escape(prop)}"|{re.escape(prop)}\b)', block):
                problems.append(f"{name}.{prop}: not in the generated struct's CodingKeys")
    for p in problems:
        print(f"FAIL {p}", file=sys.stderr)
    print(f"swift-members: {checked - len({p.split(':')[0].split('.')[0] for p in problems})} passed, "
          f"{len(problems)} failed")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
