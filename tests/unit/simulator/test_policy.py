"""Policy files for replay: inline parts become files for the private stack, paths and shipped names resolve."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.simulator.command import load_policy


def test_inline_parts_are_written_out_and_left_out_parts_keep_the_shipped_files(tmp_path: Path):
    policy = load_policy("sign-2h", tmp_path)
    assert policy["name"] == "sign-2h" and policy["escalation"] is None and policy["duties"] is None
    rules = yaml.safe_load(Path(policy["sla"]).read_text(encoding="utf-8"))["rules"]
    assert rules[0] == {"sign": "2h", "handle": "10wd"}


def test_a_part_given_as_a_path_is_read_relative_to_the_policy_file(tmp_path: Path):
    (tmp_path / "chain.yaml").write_text("version: 1\nsteps: []\n", encoding="utf-8")
    (tmp_path / "p.yaml").write_text("title: 不提级\nescalation: chain.yaml\n", encoding="utf-8")
    policy = load_policy(str(tmp_path / "p.yaml"), tmp_path / "work")
    assert policy == {"name": "p", "title": "不提级", "sla": None, "escalation": str(tmp_path / "chain.yaml"),
                      "duties": None}
