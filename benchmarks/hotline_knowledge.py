"""Knowledge-base search speed: build time and queries per second on 10,000 Chinese articles.

    .venv/bin/python benchmarks/hotline_knowledge.py [--articles 10000] [--queries 2000]

Articles are synthetic but shaped like real ones: each takes sentences from the demo articles
(services/hotline/adapters/knowledge_seed.yaml), shuffled and recombined with a place and a topic, so the
vocabulary and the bigram distribution are those of Chinese government answers (about 270 characters each).
Queries are short operator phrases (4-12 characters) cut from the same text plus a few typed words. The
index is the one the hotline serves (services/hotline/domain/knowledge.py), built the way the service builds
it (KnowledgeIndex.build, in a worker thread in the service). One process, one core.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.hotline.domain.knowledge import Article, KnowledgeIndex  # noqa: E402
from services.hotline.service.knowledge import seed_articles  # noqa: E402

PLACES = ["崇川区", "通州区", "海门区", "如皋市", "启东市", "海安市", "如东县", "和平桥街道", "钟秀镇", "狼山镇"]
TOPICS = ["办理流程", "收费标准", "投诉渠道", "所需材料", "办理时限", "注意事项", "政策依据", "常见问题"]


def corpus(n: int, rng: random.Random) -> list[Article]:
    seeds = seed_articles()
    sentences = [s for a in seeds for s in re.split(r"(?<=[。；])", a["body"]) if len(s) > 6]
    out = []
    for i in range(n):
        base = seeds[i % len(seeds)]
        body = "".join(rng.sample(sentences, rng.randint(4, 10)))
        title = f"{rng.choice(PLACES)}{base['title']}{rng.choice(TOPICS)}"
        out.append(Article(article_id=f"a{i}", title=title, body=body, category_code=base.get("category_code"),
                           valid_to=date(2020, 1, 1) if i % 50 == 0 else None))
    return out


def queries(articles: list[Article], n: int, rng: random.Random) -> list[str]:
    typed = ["停水了怎么办", "水费怎么算", "拖欠工资", "电梯坏了", "垃圾没人收", "夜间施工噪音", "低保申请",
             "狂犬疫苗", "路灯不亮", "物业不作为", "公交卡老年人", "宅基地审批"]
    out = []
    for _ in range(n):
        if rng.random() < 0.3:
            out.append(rng.choice(typed))
            continue
        text = rng.choice(articles).body
        start = rng.randrange(max(1, len(text) - 12))
        out.append(text[start:start + rng.randint(4, 12)])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=2_000)
    args = parser.parse_args()
    rng = random.Random(12345)
    articles = corpus(args.articles, rng)
    chars = sum(len(a.body) + len(a.title) for a in articles)
    print(f"corpus: {len(articles)} articles, {chars / len(articles):.0f} characters each on average")

    started = time.perf_counter()
    index = KnowledgeIndex.build(articles)
    build_s = time.perf_counter() - started
    print(f"build: {build_s:.2f} s ({len(articles) / build_s:,.0f} articles/s)")

    today = date(2026, 11, 23)
    index.search("预热", today=today)  # fills the per-day eligibility cache, as the first query of a day does
    qs = queries(articles, args.queries, rng)
    latencies = []
    started = time.perf_counter()
    for q in qs:
        t0 = time.perf_counter()
        index.search(q, today=today, limit=10)
        latencies.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    print(f"search: {len(qs) / total:,.0f} queries/s over {len(qs)} queries (top 10); "
          f"p50 {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms, mean {statistics.mean(latencies) * 1000:.2f} ms")

    started = time.perf_counter()
    for i in range(200):
        index.add(Article(article_id=f"new{i}", title=f"新增文章{i}", body=articles[i].body))
    print(f"edit: {200 / (time.perf_counter() - started):,.0f} article adds/s on the live index "
          "(what an operator's edit costs the process that makes it)")


if __name__ == "__main__":
    main()
