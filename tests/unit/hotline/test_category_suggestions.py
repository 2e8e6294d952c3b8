"""智能分类: the category table's small classes ranked against a caller's words."""

from __future__ import annotations

import csv
from pathlib import Path

from services.hotline.adapters.category_words import load_words
from services.hotline.domain.suggest import CategorySuggester, LeafText
from shared.categories import CategoryTable

LABELLED = Path(__file__).resolve().parents[3] / "benchmarks" / "data" / "category_descriptions.tsv"


def _shipped() -> CategorySuggester:
    return CategorySuggester.from_table(CategoryTable.load(), load_words())


def test_a_description_about_uncollected_rubbish_suggests_that_class_first_with_its_path() -> None:
    first = _shipped().suggest("楼下垃圾桶三天没人来收，臭气熏天")[0]
    assert first.code == "020101"
    assert first.path == "环境卫生 / 垃圾清运 / 生活垃圾未及时清运"


def test_suggestions_are_small_classes_at_most_the_limit_and_best_first() -> None:
    table = CategoryTable.load()
    leaves = {c.code for c in table.leaves()}
    found = _shipped().suggest("路灯不亮，晚上很黑，井盖也没了", limit=3)
    assert 1 <= len(found) <= 3
    assert {s.code for s in found} <= leaves
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)


def test_words_a_city_adds_for_a_class_bring_it_up() -> None:
    leaves = [LeafText("1", "道路破损坑洼", ("市政设施",)), LeafText("2", "其他事项", ("其他",), "共享单车 乱停")]
    assert CategorySuggester(leaves).suggest("共享单车堆在门口")[0].code == "2"


def test_text_that_matches_no_class_gets_no_suggestion() -> None:
    assert _shipped().suggest("xyz") == []


def test_the_labelled_set_has_at_least_200_descriptions_of_known_small_classes() -> None:
    table = CategoryTable.load()
    leaves = {c.code for c in table.leaves()}
    rows = list(csv.DictReader(LABELLED.open(encoding="utf-8"), delimiter="\t"))
    assert len(rows) >= 200
    assert {r["code"] for r in rows} <= leaves


def test_the_right_class_is_among_the_top_three_for_nine_in_ten_labelled_descriptions() -> None:
    """A guard against a change that breaks ranking (the figure itself: benchmarks/category_suggestions.py)."""
    suggester = _shipped()
    rows = list(csv.DictReader(LABELLED.open(encoding="utf-8"), delimiter="\t"))
    hits = sum(r["code"] in [s.code for s in suggester.suggest(r["description"])] for r in rows)
    assert hits / len(rows) >= 0.9


def test_a_long_description_full_of_everyday_words_still_gets_its_three_suggestions() -> None:
    """The knowledge base's no-match cut-off once hid every suggestion for descriptions like this one."""
    found = _shipped().suggest("青年路和工农路交叉口往东五十米路面有个大坑，电动车经过好几次差点摔倒")
    assert len(found) == 3 and found[0].code == "010101"
