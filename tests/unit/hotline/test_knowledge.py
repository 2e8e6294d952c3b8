import csv
import math
import random
from collections import Counter
from datetime import date
from pathlib import Path

from services.hotline.domain.knowledge import Article, KnowledgeIndex, tokenize
from services.hotline.service.knowledge import seed_articles

LABELLED = Path(__file__).resolve().parents[3] / "benchmarks" / "data" / "knowledge_queries.tsv"

TODAY = date(2026, 11, 22)

CORPUS = [
    Article(article_id="gjj-tq", title="住房公积金提取条件和办理流程",
            body="职工购买、建造、翻建、大修自住住房，或偿还购房贷款本息，可以申请提取住房公积金。"
                 "办理时携带身份证、购房合同，到公积金管理中心服务窗口或通过手机公积金APP办理。",
            category_code="0801", valid_from=date(2025, 1, 1)),
    Article(article_id="gjj-dk", title="住房公积金贷款额度",
            body="公积金贷款最高额度为单缴存职工60万元，双缴存职工80万元，具体以缴存基数和年限计算。",
            category_code="0802"),
    Article(article_id="shebao", title="社保卡补办",
            body="社保卡遗失后可到银行网点或人社服务大厅挂失补办，补办需要本人身份证。",
            category_code="0701"),
    Article(article_id="lajifenlei", title="生活垃圾分类投放时间",
            body="居民小区厨余垃圾每天早上七点到九点、晚上六点到八点定时定点投放，其他时间投放到误时投放点。",
            category_code="0301"),
    Article(article_id="gjj-old", title="住房公积金提取办法（2019年版）",
            body="提取住房公积金的旧规定，已废止。", category_code="0801",
            valid_from=date(2019, 1, 1), valid_to=date(2024, 12, 31)),
    Article(article_id="gjj-future", title="住房公积金提取新规（2027年施行）",
            body="2027年起提取住房公积金新办法。", category_code="0801", valid_from=date(2027, 1, 1)),
    Article(article_id="5g", title="5G基站建设咨询",
            body="5G基站选址由通信运营商负责，居民对基站辐射有疑问可咨询通信管理局。", category_code="0901"),
    Article(article_id="tingche", title="小区停车收费标准",
            body="住宅小区停车收费实行市场调节价，物业公司应公示收费标准。也可以咨询公积金中心以外的价格部门。",
            category_code="0302"),
]


def ids(hits):
    return [h.article_id for h in hits]


def test_chinese_text_is_cut_into_words_characters_and_overlapping_bigrams_latin_into_words():
    assert Counter(tokenize("公积金 5G")) == Counter(["_公积金", "公", "积", "金", "公积", "积金", "5g"])
    assert tokenize("ＡＢＣ１２３") == ["abc123"]


def test_question_words_are_dropped_before_bigrams_are_formed():
    assert Counter(tokenize("停水了怎么办")) == Counter(["_停水", "停", "水", "停水"])


def test_a_water_cut_question_ranks_the_water_article_before_the_power_cut_one():
    seeds = {a["id"]: a for a in seed_articles()}
    index = KnowledgeIndex.build(
        Article(article_id=i, title=a["title"], body=a["body"]) for i, a in seeds.items())
    assert seeds[index.search("停水了怎么办", today=TODAY)[0].article_id]["title"] == "计划停水信息在哪里查询"
    assert seeds[index.search("停电了怎么办", today=TODAY)[0].article_id]["title"] == "停电了怎么报修"


def test_a_question_sharing_only_a_few_characters_with_every_article_finds_nothing():
    index = KnowledgeIndex.build(
        Article(article_id=a["id"], title=a["title"], body=a["body"]) for a in seed_articles())
    assert index.search("推荐一部电影", today=TODAY) == []
    assert index.search("明天天气怎么样", today=TODAY) == []
    assert index.search("停水", today=TODAY)  # a short question that does match is still answered


def test_precision_at_one_on_the_labelled_queries_is_at_least_nine_in_ten():
    rows = list(csv.DictReader(LABELLED.open(encoding="utf-8"), delimiter="\t"))
    index = KnowledgeIndex.build(
        Article(article_id=a["id"], title=a["title"], body=a["body"]) for a in seed_articles())
    answerable = [r for r in rows if r["article_id"] != "-"]
    assert len(rows) >= 100
    right = sum(1 for r in answerable
                if [h.article_id for h in index.search(r["query"], today=TODAY, limit=1)] == [r["article_id"]])
    assert right / len(answerable) >= 0.9


def test_the_article_that_answers_the_question_ranks_first():
    index = KnowledgeIndex.build(CORPUS)
    hits = index.search("公积金怎么提取", today=TODAY)
    assert hits[0].article_id == "gjj-tq"
    assert hits[0].score > hits[1].score > 0


def test_word_order_of_the_callers_question_does_not_matter():
    index = KnowledgeIndex.build(CORPUS)
    assert index.search("提取公积金需要什么材料", today=TODAY)[0].article_id == "gjj-tq"
    assert index.search("垃圾几点投放", today=TODAY)[0].article_id == "lajifenlei"
    assert index.search("社保卡丢了怎么办", today=TODAY)[0].article_id == "shebao"


def test_articles_out_of_their_validity_dates_are_not_offered():
    index = KnowledgeIndex.build(CORPUS)
    found = ids(index.search("住房公积金提取", today=TODAY))
    assert "gjj-old" not in found and "gjj-future" not in found
    assert "gjj-future" in ids(index.search("住房公积金提取", today=date(2027, 3, 1)))
    assert "gjj-old" in ids(index.search("住房公积金提取", today=date(2024, 12, 31)))


def test_a_category_filter_keeps_only_articles_under_that_code():
    index = KnowledgeIndex.build(CORPUS)
    assert set(ids(index.search("公积金", today=TODAY, category="0802"))) == {"gjj-dk"}
    assert set(ids(index.search("公积金", today=TODAY, category="08"))) == {"gjj-tq", "gjj-dk"}


def test_a_word_in_the_title_counts_more_than_the_same_word_in_the_body():
    a = Article(article_id="title", title="路灯维修", body="市政设施报修请拨打电话。")
    b = Article(article_id="body", title="市政设施报修", body="路灯维修请拨打电话。")
    index = KnowledgeIndex.build([a, b])
    assert ids(index.search("路灯维修", today=TODAY)) == ["title", "body"]


def test_latin_words_and_numbers_are_searchable():
    index = KnowledgeIndex.build(CORPUS)
    assert index.search("5g 基站", today=TODAY)[0].article_id == "5g"


def test_the_snippet_shows_the_body_around_the_matched_words():
    index = KnowledgeIndex.build(CORPUS, snippet_chars=20)
    hit = index.search("购房合同", today=TODAY)[0]
    assert hit.article_id == "gjj-tq"
    assert "购房合同" in hit.snippet
    assert hit.snippet.startswith("…")


def test_queries_without_searchable_text_find_nothing():
    index = KnowledgeIndex.build(CORPUS)
    assert index.search("？！。", today=TODAY) == []
    assert index.search("量子", today=TODAY) == []
    assert index.search("公积金", today=TODAY, limit=0) == []


def test_admin_edits_are_searchable_at_once_and_removed_articles_disappear():
    index = KnowledgeIndex.build(CORPUS)
    index.add(Article(article_id="wuye", title="物业费收费争议", body="物业服务收费争议可向住建部门反映。"))
    assert index.search("物业费", today=TODAY)[0].article_id == "wuye"
    assert index.remove("gjj-tq")
    assert "gjj-tq" not in ids(index.search("公积金提取", today=TODAY))
    assert not index.remove("gjj-tq")
    assert len(index) == len(CORPUS)


def test_adding_an_article_with_an_existing_id_replaces_it():
    index = KnowledgeIndex.build(CORPUS)
    index.add(Article(article_id="shebao", title="医保报销", body="门诊费用按比例报销。"))
    assert "shebao" not in ids(index.search("社保卡补办", today=TODAY))
    assert index.search("医保报销", today=TODAY)[0].article_id == "shebao"
    assert len(index) == len(CORPUS)


def test_many_removals_compact_the_index_without_changing_results():
    articles = [Article(article_id=f"a{i}", title=f"第{i}号通知", body=f"编号{i}的内容，关于道路养护") for i in range(1500)]
    index = KnowledgeIndex.build(articles)
    for article in articles[:1200]:
        index.remove(article)
    assert len(index) == 300
    hits = index.search("道路养护", today=TODAY, limit=500)
    assert {h.article_id for h in hits} == {f"a{i}" for i in range(1200, 1500)}


def _reference_top(articles, query, *, limit, boost=3.0, k1=1.2, b=0.75, unigram_weight=0.5):
    """Plain BM25 over every article containing a query bigram: what the pruned search must reproduce."""
    docs = []
    for a in articles:
        body, title = Counter(tokenize(a.body)), Counter(tokenize(a.title))
        tf = Counter({t: body[t] + boost * title[t] for t in body.keys() | title.keys()})
        docs.append((a.article_id, tf, sum(body.values()) + boost * sum(title.values())))
    avg = sum(length for *_, length in docs) / len(docs)
    terms = set(tokenize(query))
    scores = {}
    for article_id, tf, length in docs:
        if not any(len(t) > 1 and t in tf for t in terms):
            continue
        score = 0.0
        for t in terms:
            if t in tf:
                df = sum(1 for _, other, _ in docs if t in other)
                idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5)) * (unigram_weight if len(t) == 1 else 1)
                f = tf[t]
                score += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * length / avg))
        scores[article_id] = score
    return sorted(scores, key=lambda i: -scores[i])[:limit]


def test_the_pruned_search_ranks_exactly_like_plain_bm25():
    rng = random.Random(3)
    chars = "公积金提取贷款社保医疗养老垃圾分类停车物业噪音路灯供水供电燃气道路学校"
    articles = [
        Article(article_id=f"d{i}", title="".join(rng.choices(chars, k=6)), body="".join(rng.choices(chars, k=60)))
        for i in range(120)]
    index = KnowledgeIndex.build(articles, common_fraction=1.0)
    for query in ("公积金提取", "垃圾分类停车", "路灯供电故障", "学校"):
        expected = _reference_top(articles, query, limit=5)
        got = [h.article_id for h in index.search(query, today=TODAY, limit=5)]
        assert got == expected, query


def test_an_index_grown_one_article_at_a_time_ranks_like_one_built_at_once():
    grown = KnowledgeIndex()
    for article in CORPUS:
        grown.add(article)
    built = KnowledgeIndex.build(CORPUS)
    for query in ("公积金提取", "垃圾投放", "停车收费", "身份证"):
        assert grown.search(query, today=TODAY) == built.search(query, today=TODAY), query
