"""Knowledge base (知识库) search for operators answering consultations directly: Chinese-aware BM25.

Chinese has no spaces, so text is cut into words by a segmenter (jieba, through its Rust port rjieba) and,
alongside, into overlapping character bigrams (垃圾清运 → 垃圾 圾清 清运) plus single characters. Words
carry the meaning (停水 is not 停电, 怎么办 is no topic at all), bigrams keep recall where the segmenter
cuts a query and an article differently, unigrams where the caller's words come in another order.
Function and question words (了, 怎么办, 如何, 哪里 …) are stop words: they are dropped before bigrams are
formed, so "停水了怎么办" is about 停水 and not about the 了怎/怎么 it shares with "停电了怎么报修". Latin
letters and digits form ordinary words. Ranking is BM25 over one virtual field in which the title counts
`title_boost` times (a simplified BM25F), so an article whose title answers the question outranks one that
mentions it in passing. A hit must also hold `min_match` of the query's weight (the idf of its words,
bigrams and characters, a term the index has never seen weighing most): an article sharing a few common
characters with a question it does not answer ("推荐一部电影", "明天天气怎么样") is no answer (the no-match
cut-off). The labelled queries in benchmarks/data/knowledge_queries.tsv measure both.

Speed in pure Python comes from doing per-posting work in C where possible:
- each posting stores its BM25 term weight already computed (tf saturation and length normalisation; the
  query only multiplies by idf), in two parallel arrays per term: doc indexes and float32 weights;
- terms are scored rarest first; the first term and the informative ones (in at most `common_fraction` of
  the articles, or fewer than `min_common` articles, so small indexes are scored in full) bring in candidates, the rest only add to candidates already found, by a C-level
  dict/set intersection. Single characters only add to candidates when the query has a longer term:
  an article sharing nothing but characters with a sentence is noise.
The weights depend on the average article length, frozen when the index is built; incremental edits
barely move it, and the index re-weighs itself when the average drifts by more than `reweigh_drift`.
Removing an article leaves a tombstone; the index compacts itself once tombstones pile up.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from operator import add

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"[{_CJK}]+|[a-z0-9]+")
_CJK_RUN = re.compile(rf"[{_CJK}]")


@dataclass(frozen=True, kw_only=True)
class Article:
    """One knowledge-base article: the answer an operator reads out, valid between two dates."""

    article_id: str
    title: str
    body: str
    category_code: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None

    def valid_on(self, day: date) -> bool:
        """True when the article is in force on `day` (both ends inclusive, None = open)."""
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class Hit:
    article_id: str
    score: float
    snippet: str


_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def fold(text: str) -> str:
    """NFKC (full-width to half-width) and lower case: what both articles and queries are compared in."""
    # Full-width punctuation alone makes most Chinese text fail the NFKC quick check; mapping that block
    # first lets the (slow) full normalisation run only for text that needs more.
    text = text.translate(_FULL_WIDTH)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return text.lower()


# Question and function words: a caller's "怎么办" or "在哪里" says nothing about which article answers.
STOP_WORDS = frozenset("""
了 的 地 得 吗 呢 吧 啊 呀 哦 么 嘛 啦 着 过 怎么办 怎么 怎样 怎么样 咋办 咋 如何 什么 啥 哪里 哪儿 在哪 在哪里 哪 哪些
哪个 多少 多久 几 能不能 可不可以 可以 能否 能 会 有没有 是不是 是否 请问 请 我 我们 我家 你 你们 您 他 她 它 他们
一下 帮 帮忙 想 要 是 有 在 都 就 还 又 也 和 与 或 及 把 给 让 去 到 为 对 这 那 这个 那个 一个 个 该 吧 呗 啊 谁
""".split())
WORD_MARK = "_"  # segmented words are indexed as _停水, apart from the bigram 停水 (a real word counts twice)

_segmenter = None


def _cut(run: str) -> list[str]:
    """jieba's words of a Chinese run; the dictionary is loaded on first use, once per process (~0.1 s)."""
    global _segmenter
    if _segmenter is None:
        import rjieba  # noqa: PLC0415 - imported on first use so that importing this module stays instant

        _segmenter = rjieba.cut
    return _segmenter(run)


def tokenize(text: str) -> list[str]:
    """Words (marked), character bigrams and unigrams for Chinese runs without their stop words; whole
    words for Latin letters and digits."""
    tokens: list[str] = []
    for run in _RUNS.findall(fold(text)):
        if not _CJK_RUN.match(run):
            tokens.append(run)
            continue
        kept = ""
        for word in _cut(run):
            if word in STOP_WORDS:
                _chars_and_bigrams(kept, tokens)
                kept = ""
                continue
            kept += word
            if len(word) > 1:
                tokens.append(WORD_MARK + word)
        _chars_and_bigrams(kept, tokens)
    return tokens


def _chars_and_bigrams(run: str, tokens: list[str]) -> None:
    tokens.extend(run)
    tokens.extend(map(add, run, run[1:]))


class KnowledgeIndex:
    """An in-memory inverted index with BM25 ranking; add/remove keep it current as admins edit articles."""

    def __init__(self, *, title_boost: float = 3.0, k1: float = 1.2, b: float = 0.75,
                 unigram_weight: float = 0.5, common_fraction: float = 0.1, min_common: int = 200,
                 reweigh_drift: float = 0.2, snippet_chars: int = 80, min_match: float = 0.09) -> None:
        self.title_boost = title_boost
        self.k1 = k1
        self.b = b
        self.unigram_weight = unigram_weight
        self.common_fraction = common_fraction
        self.min_common = min_common  # below this document frequency a term always brings in candidates
        self.reweigh_drift = reweigh_drift
        self.snippet_chars = snippet_chars
        self.min_match = min_match  # share of the query's word/bigram weight a hit must hold
        self._postings: dict[str, tuple[array, array]] = {}
        self._articles: list[Article | None] = []
        self._lengths = array("d")
        self._by_id: dict[str, int] = {}
        self._total_length = 0.0
        self._weight_avg = 0.0  # the average length the stored weights were computed with
        self._dead = 0
        self._eligible_cache: dict[tuple[date, str | None], set[int]] = {}

    @classmethod
    def build(cls, articles: Iterable[Article], **options: float) -> KnowledgeIndex:
        """An index over `articles` (a later article with the same id replaces an earlier one)."""
        index = cls(**options)  # type: ignore[arg-type]
        index._load(list({a.article_id: a for a in articles}.values()))
        return index

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._by_id

    def get(self, article_id: str) -> Article | None:
        doc = self._by_id.get(article_id)
        return None if doc is None else self._articles[doc]

    def _terms(self, article: Article) -> tuple[dict[str, float], float]:
        tf: dict[str, float] = Counter(tokenize(article.body))
        length = float(sum(tf.values()))
        title = Counter(tokenize(article.title))
        boost = self.title_boost
        for term, n in title.items():
            tf[term] = tf.get(term, 0) + boost * n
        return tf, length + boost * sum(title.values())

    def _load(self, articles: list[Article]) -> None:
        """(Re)build everything from scratch: weights use the true average length."""
        self._postings, self._articles, self._lengths = {}, [], array("d")
        self._by_id, self._dead = {}, 0
        self._eligible_cache.clear()
        # One pass (segmenting is the costly part, so each article is cut once): postings take the raw term
        # frequencies, then, the true average length known, one sweep turns them into BM25 weights.
        self._weight_avg = 1.0
        for article in articles:
            self._insert(article, *self._terms(article), raw=True)
        self._total_length = sum(self._lengths)
        self._weight_avg = self._total_length / len(articles) if articles else 0.0
        if not articles:
            return
        k1p1, k1, b, avg = self.k1 + 1, self.k1, self.b, self._weight_avg
        norms = [k1 * (1 - b + b * length / avg) for length in self._lengths]
        for docs, weights in self._postings.values():
            weights[:] = array("f", [f * k1p1 / (f + norms[d]) for d, f in zip(docs, weights, strict=True)])

    def _insert(self, article: Article, tf: dict[str, float], length: float, *, raw: bool = False) -> None:
        doc = len(self._articles)
        avg = self._weight_avg or length or 1.0
        k1p1, norm = self.k1 + 1, self.k1 * (1 - self.b + self.b * length / avg)
        postings, get = self._postings, self._postings.get
        for term, f in tf.items():
            pair = get(term)
            if pair is None:
                postings[term] = pair = (array("I"), array("f"))
            pair[0].append(doc)
            pair[1].append(f if raw else f * k1p1 / (f + norm))
        self._articles.append(article)
        self._lengths.append(length)
        self._by_id[article.article_id] = doc
        self._eligible_cache.clear()

    def add(self, article: Article) -> None:
        """Index an article; an article already indexed under the same id is replaced."""
        if article.article_id in self._by_id:
            self.remove(article.article_id)
        tf, length = self._terms(article)
        if not self._weight_avg:
            self._weight_avg = length or 1.0
        self._total_length += length
        self._insert(article, tf, length)

    def remove(self, article: Article | str) -> bool:
        """Take an article out of the index; False when it was not there."""
        article_id = article if isinstance(article, str) else article.article_id
        doc = self._by_id.pop(article_id, None)
        if doc is None:
            return False
        self._articles[doc] = None
        self._eligible_cache.clear()
        self._total_length -= self._lengths[doc]
        self._dead += 1
        if self._dead > max(1000, len(self._by_id) // 4):
            self._load([a for a in self._articles if a is not None])
        return True

    def _reweigh_if_drifted(self) -> None:
        live = len(self._by_id)
        if not live or not self._weight_avg:
            return
        avg = self._total_length / live
        if abs(avg - self._weight_avg) > self.reweigh_drift * self._weight_avg:
            self._load([a for a in self._articles if a is not None])

    def search(self, query: str, *, today: date, category: str | None = None, limit: int = 10) -> list[Hit]:
        """Articles in force on `today` (and under `category`, a code prefix), best BM25 score first."""
        self._reweigh_if_drifted()
        live = len(self._by_id)
        terms = set(tokenize(query))
        if not terms or not live or limit <= 0:
            return []
        present = sorted((len(self._postings[t][0]), t) for t in terms if t in self._postings)
        if not present:
            return []
        eligible = self._eligible_docs(today, category)
        has_long_term = any(not _is_char(t) for _, t in present)
        widen, narrow = [], []
        for df, term in present:
            informative = df <= max(self.common_fraction * live, self.min_common) and not (
                _is_char(term) and has_long_term)
            (widen if informative else narrow).append((df, term, self._idf(term, df, live)))
        if not widen:
            widen.append(narrow.pop(0))
        # Phase 1: informative terms bring in candidates (eligible ones only).
        scores: dict[int, float] = {}
        for _, term, idf in widen:
            docs, weights = self._postings[term]
            if not scores:
                scores = {doc: idf * w for doc, w in zip(docs, weights, strict=True) if doc in eligible}
                continue
            get = scores.get
            for doc, w in zip(docs, weights, strict=True):
                if doc in eligible:
                    scores[doc] = get(doc, 0.0) + idf * w
        # Phase 2: common terms only add to candidates. A candidate that cannot reach the current k-th best
        # even with the most every remaining term could give is dropped first (MaxScore-style pruning).
        bound = sum(idf for *_, idf in narrow) * (self.k1 + 1)
        pruned_at = math.inf
        for df, term, idf in narrow:
            if len(scores) > limit and bound < 0.8 * pruned_at:  # re-prune only once the bound has shrunk
                threshold = heapq.nlargest(limit, scores.values())[-1]
                scores = {doc: score for doc, score in scores.items() if score + bound >= threshold}
                pruned_at = bound
            bound -= idf * (self.k1 + 1)
            docs, weights = self._postings[term]
            if len(scores) * 16 < df:  # few candidates, long list: binary search beats building a dict
                for doc in scores:
                    i = bisect_left(docs, doc)
                    if i < df and docs[i] == doc:
                        scores[doc] += idf * weights[i]
            else:
                contribution = dict(zip(docs, weights, strict=True))
                for doc in scores.keys() & contribution.keys():
                    scores[doc] += idf * contribution[doc]
        best = self._covering(heapq.nlargest(limit * 4, scores.items(), key=lambda item: (item[1], -item[0])),
                              terms, live)[:limit]
        articles = self._articles
        ranked_terms = [t.removeprefix(WORD_MARK) for _, t in present if not _is_char(t)] or [
            t for _, t in present]
        return [Hit(articles[doc].article_id, round(score, 6), self._snippet(articles[doc], ranked_terms))
                for doc, score in best]

    def _covering(self, ranked: list[tuple[int, float]], terms: set[str], live: int) -> list[tuple[int, float]]:
        """The ranked hits that hold at least `min_match` of the query's weight (the no-match cut-off)."""
        if self.min_match <= 0:
            return ranked
        # Postings still list removed articles until compaction, so a term's idf can dip below zero: clamp.
        weights = {t: max(0.0, self._idf(t, len(self._postings[t][0]) if t in self._postings else 0, live))
                   for t in terms}
        total = sum(weights.values())
        if total <= 0:
            return ranked
        kept = []
        for doc, score in ranked:
            held = sum(w for t, w in weights.items() if t in self._postings and _holds(self._postings[t][0], doc))
            if held >= self.min_match * total:
                kept.append((doc, score))
        return kept

    def _idf(self, term: str, df: int, live: int) -> float:
        idf = math.log(1 + (live - df + 0.5) / (df + 0.5))
        return idf * self.unigram_weight if _is_char(term) else idf

    def _eligible_docs(self, today: date, category: str | None) -> set[int]:
        """Docs in force on `today` under `category`; cached per day and category until the next edit."""
        key = (today, category)
        cached = self._eligible_cache.get(key)
        if cached is None:
            if len(self._eligible_cache) >= 64:
                self._eligible_cache.clear()
            cached = {doc for doc, article in enumerate(self._articles) if _eligible(article, today, category)}
            self._eligible_cache[key] = cached
        return cached

    def _snippet(self, article: Article, terms: list[str]) -> str:
        """A window of the body around the rarest query term it contains (its start when none is)."""
        body = article.body
        folded = fold(body)
        if len(folded) != len(body):  # NFKC changed lengths (ligatures): positions would not line up
            folded = body.lower() if len(body.lower()) == len(body) else body
        position = next((p for p in (folded.find(t) for t in terms) if p >= 0), -1)
        width = self.snippet_chars
        if position < 0:
            return body[:width] + ("…" if len(body) > width else "")
        start = max(0, position - width // 4)
        end = min(len(body), start + width)
        return ("…" if start > 0 else "") + body[start:end] + ("…" if end < len(body) else "")


def _holds(docs: array, doc: int) -> bool:
    i = bisect_left(docs, doc)
    return i < len(docs) and docs[i] == doc


def _is_char(term: str) -> bool:
    return len(term) == 1 and bool(_CJK_RUN.match(term))


def _eligible(article: Article | None, today: date, category: str | None) -> bool:
    if article is None or not article.valid_on(today):
        return False
    if category is None:
        return True
    return article.category_code is not None and article.category_code.startswith(category)
