"""智能分类: rank the category table's small classes (小类) against what the caller said.

Each leaf becomes one BM25 document over character bigrams (the knowledge base's index, reused): its name
counts most (title), its parents' names and the words callers use for it (a per-leaf word list the city can
edit) make the body. The operator sees the top three and takes one with one key; the measure of how often
the right class is among them is benchmarks/category_suggestions.py over a labelled set in the repo.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from services.hotline.domain.knowledge import Article, KnowledgeIndex


@dataclass(frozen=True)
class LeafText:
    code: str
    name: str
    parents: tuple[str, ...]
    words: str = ""


@dataclass(frozen=True)
class Suggestion:
    code: str
    name: str
    path: str  # 大类 / 中类 / 小类
    score: float


class CategorySuggester:
    """Top-k small classes for a description; pure and in memory (about a hundred leaves)."""

    def __init__(self, leaves: Iterable[LeafText]) -> None:
        self._leaves = {leaf.code: leaf for leaf in leaves}
        self._index = KnowledgeIndex.build(
            (Article(article_id=leaf.code, title=leaf.name, body=" ".join((*leaf.parents, leaf.words)))
             for leaf in self._leaves.values()), title_boost=2.0, min_common=10_000,
            # No no-match cut-off here: the knowledge base's answers must fit the question, but an operator
            # is better served by three near categories than by none (the cut-off hid every suggestion for
            # long descriptions and took top-3 accuracy from 95 % to 89 %).
            min_match=0.0)

    @classmethod
    def from_table(cls, table, words: Mapping[str, str]) -> CategorySuggester:  # noqa: ANN001 - CategoryTable
        """From the shared category table and a {code: "word word ..."} list."""
        return cls(LeafText(c.code, c.name, tuple(a.name for a in reversed(table.ancestors(c.code))),
                            words.get(c.code, "")) for c in table.leaves())

    def suggest(self, description: str, *, limit: int = 3) -> list[Suggestion]:
        """The best `limit` leaves for the text, best first; none when nothing matches."""
        hits = self._index.search(description, today=date.today(), limit=limit)
        out = []
        for hit in hits:
            leaf = self._leaves[hit.article_id]
            out.append(Suggestion(leaf.code, leaf.name, " / ".join((*leaf.parents, leaf.name)),
                                  round(hit.score, 3)))
        return out
