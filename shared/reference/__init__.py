"""Reference data shipped with mcc as YAML: categories, duties list, SLA policy, escalation chain.

Services read a file here once at start-up and hand the parsed mapping to a pure domain constructor, e.g.
`SlaPolicy.from_mapping(load_reference("sla"))`; a city replaces a file by pointing at its own copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REFERENCE_DIR = Path(__file__).resolve().parent
NAMES = ("categories", "duties", "sla", "escalation")


def reference_path(name: str) -> Path:
    """The shipped file for one of NAMES."""
    if name not in NAMES:
        raise KeyError(f"no reference data named {name!r} (known: {', '.join(NAMES)})")
    return REFERENCE_DIR / f"{name}.yaml"


def load_reference(name: str, path: str | Path | None = None) -> Any:
    """The parsed YAML of a reference file: the shipped one, or `path` when a city supplies its own."""
    with open(path or reference_path(name), encoding="utf-8") as handle:
        return yaml.safe_load(handle)
