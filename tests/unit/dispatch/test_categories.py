from __future__ import annotations

import pytest

from shared.categories import CategoryLevel, CategoryTable, CategoryTableError, parse_csv


@pytest.fixture(scope="module")
def table() -> CategoryTable:
    return CategoryTable.load()


def test_the_shipped_table_covers_the_usual_12345_matters(table):
    roots = {c.code: c.name for c in table.roots()}
    assert len(roots) >= 15
    assert {"市政设施", "环境卫生", "噪音扰民", "供水", "供电", "市场监管", "住房物业", "劳动保障", "教育", "医疗卫生",
            "农业农村", "违章建筑", "生态环境", "社会救助"} <= set(roots.values())
    leaves = table.leaves()
    assert len(leaves) >= 80
    assert all(leaf.level is CategoryLevel.SMALL and len(leaf.code) == 6 for leaf in leaves)


def test_a_small_class_inherits_what_it_does_not_state(table):
    manhole = table.get("010302")  # 窨井盖缺失破损: states its owner and urgency
    assert (manhole.owner, manhole.default_urgency) == ("department:urban_management", "urgent")
    blocked_drain = table.get("010301")  # 下水道堵塞: inherits 排水设施's owner, 市政设施's urgency
    assert (blocked_drain.owner, blocked_drain.default_urgency, blocked_drain.declares_owner) == (
        "department:water", "normal", False)
    assert table.get("040201").city_level is True  # 水费争议 under 水费, a city-level matter
    assert table.get("040201").duty_owner == "department:water@city"
    assert table.get("020101").duty_owner == "town"


def test_emergencies_point_to_their_line(table):
    assert table.get("060101").emergency_line == "119"  # 燃气泄漏
    assert table.get("070303").emergency_line == "122"  # 交通事故
    assert table.get("120301").emergency_line == "120"
    assert table.get("170102").emergency_line == "110"
    assert table.get("060102").emergency_line is None


def test_ancestors_run_from_the_parent_to_the_big_class(table):
    assert [c.code for c in table.ancestors("010302")] == ["0103", "01"]
    assert [c.name for c in table.path("010302")] == ["市政设施", "排水设施", "窨井盖缺失破损"]
    assert table.ancestors("01") == ()
    assert table.get("999999") is None
    with pytest.raises(KeyError, match="999999"):
        table.ancestors("999999")


def test_a_broken_table_reports_every_faulty_row():
    rows = [
        {"code": "01", "name": "市政设施", "owner": "territorial"},
        {"code": "0201", "name": "无父类"},
        {"code": "0101", "name": "错父类", "parent": "02"},
        {"code": "010101", "name": "错层级", "level": 2},
        {"code": 101, "name": "未加引号"},
        {"code": "03", "name": "无主"},
        {"code": "04", "name": "坏主", "owner": "village"},
        {"code": "05", "name": "坏紧急", "owner": "territorial", "default_urgency": "asap"},
        {"code": "01", "name": "重复", "owner": "territorial"},
    ]
    with pytest.raises(CategoryTableError) as caught:
        CategoryTable.from_rows(rows)
    problems = "\n".join(caught.value.problems)
    assert "'0201': parent '02' does not exist" in problems
    assert "'0101': code does not extend its parent '02'" in problems
    assert "'010101': level 2 does not match" in problems
    assert "quote it in YAML" in problems
    assert "'03': a big class must declare its owner" in problems
    assert "'04': owner must be" in problems
    assert "'05': default_urgency" in problems
    assert "'01': code appears twice" in problems


def test_a_city_can_import_its_table_from_csv():
    text = ("\ufeffcode,name,owner,city_level,default_urgency,emergency_line\n"
            "01,市政设施,department:roads,,,\n"
            "0101,路灯,department:urban_management,否,urgent,\n"
            "010101,路灯不亮,,,,\n"
            "02,燃气,department:gas,是,,\n"
            "0201,燃气泄漏,,,urgent,119\n")
    table = CategoryTable.from_rows(parse_csv(text))
    lamp = table.get("010101")
    assert (lamp.owner, lamp.default_urgency, lamp.city_level) == ("department:urban_management", "urgent", False)
    leak = table.get("0201")
    assert (leak.city_level, leak.emergency_line, leak.owner_function) == (True, "119", "gas")
    assert [c.code for c in table.leaves()] == ["010101", "0201"]
