"""The words callers use for each small class (category_keywords.yaml), for the category suggester."""

from __future__ import annotations

from pathlib import Path

import yaml

DEFAULT_PATH = Path(__file__).resolve().parent / "category_keywords.yaml"


def load_words(path: str | Path | None = None) -> dict[str, str]:
    """{category code: "word word ..."} from a YAML mapping."""
    data = yaml.safe_load(Path(path or DEFAULT_PATH).read_text(encoding="utf-8")) or {}
    return {str(code): str(words) for code, words in data.items()}
