"""智能分类 accuracy: how often the right small class is the first suggestion, and among the top 3.

    .venv/bin/python benchmarks/category_suggestions.py [--show-misses]

The labelled set (benchmarks/data/category_descriptions.tsv: code, description) was written as callers
speak, apart from the suggester's word list (services/hotline/adapters/category_keywords.yaml).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from services.hotline.adapters.category_words import load_words
from services.hotline.domain.suggest import CategorySuggester
from shared.categories import CategoryTable

DATA = Path(__file__).resolve().parent / "data" / "category_descriptions.tsv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    table = CategoryTable.load()
    suggester = CategorySuggester.from_table(table, load_words())
    rows = list(csv.DictReader(DATA.open(encoding="utf-8"), delimiter="\t"))
    top1 = top3 = 0
    started = time.perf_counter()
    for row in rows:
        codes = [s.code for s in suggester.suggest(row["description"], limit=3)]
        top1 += bool(codes) and codes[0] == row["code"]
        top3 += row["code"] in codes
        if args.show_misses and row["code"] not in codes:
            print(f"miss {row['code']} {table.require(row['code']).name}: {row['description']} -> {codes}")
    elapsed = time.perf_counter() - started
    n = len(rows)
    print(f"labelled descriptions: {n}, leaves: {len(table.leaves())}")
    print(f"top-1 accuracy: {top1 / n:.1%} ({top1}/{n})")
    print(f"top-3 accuracy: {top3 / n:.1%} ({top3}/{n})")
    print(f"mean time per suggestion: {elapsed / n * 1000:.2f} ms")


if __name__ == "__main__":
    main()
