"""Knowledge-base ranking quality: precision@1 on labelled operator queries over the demo articles.

    .venv/bin/python benchmarks/knowledge_precision.py [--show-misses]

The labelled set (benchmarks/data/knowledge_queries.tsv: article_id, query) was written as callers and
operators speak, one to five queries per demo article (services/hotline/adapters/knowledge_seed.yaml);
rows labelled `-` have no answer in the knowledge base and must return nothing (the no-match cut-off).
precision@1 = answerable queries whose first hit is the labelled article / answerable queries.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.hotline.domain.knowledge import Article, KnowledgeIndex  # noqa: E402
from services.hotline.service.knowledge import seed_articles  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "knowledge_queries.tsv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--min-match", type=float, default=None,
                        help="the no-match cut-off to try (default: the index's own; 0 turns it off)")
    args = parser.parse_args()
    options = {} if args.min_match is None else {"min_match": args.min_match}
    started = time.perf_counter()
    index = KnowledgeIndex.build((Article(article_id=a["id"], title=a["title"], body=a["body"].strip(),
                                          category_code=a.get("category_code")) for a in seed_articles()), **options)
    built = time.perf_counter() - started
    rows = list(csv.DictReader(DATA.open(encoding="utf-8"), delimiter="\t"))
    answerable = [r for r in rows if r["article_id"] != "-"]
    unanswerable = [r for r in rows if r["article_id"] == "-"]
    hits1 = silent = 0
    started = time.perf_counter()
    for row in rows:
        hits = index.search(row["query"], today=date(2026, 12, 1), limit=3)
        first = hits[0].article_id if hits else None
        if row["article_id"] == "-":
            silent += first is None
            ok = first is None
        else:
            hits1 += first == row["article_id"]
            ok = first == row["article_id"]
        if args.show_misses and not ok:
            got = [(h.article_id, index.get(h.article_id).title, round(h.score, 2)) for h in hits]
            print(f"miss {row['article_id']} {row['query']} -> {got}")
    elapsed = time.perf_counter() - started
    print(f"no-match cut-off (min_match): {index.min_match}; articles: {len(index)}, labelled queries: {len(rows)} ({len(answerable)} answerable, "
          f"{len(unanswerable)} with no answer)")
    print(f"precision@1: {hits1 / len(answerable):.3f} ({hits1}/{len(answerable)})")
    print(f"no-answer queries returning nothing: {silent}/{len(unanswerable)}")
    print(f"index build (incl. segmenter load): {built * 1000:.0f} ms; "
          f"mean time per query: {elapsed / len(rows) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
