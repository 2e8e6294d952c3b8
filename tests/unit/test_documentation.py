"""The README stays true: every configuration variable a service reads is documented there."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from pydantic import AliasChoices

from services.cli import SERVICES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def env_names(settings_cls) -> set[str]:
    prefix = settings_cls.model_config.get("env_prefix", "")
    names = set()
    for name, field in settings_cls.model_fields.items():
        if name == "service_name":
            continue
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.add(str(alias.choices[0]))
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{name}".upper())
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_of_the_service_is_documented_in_the_readme(service):
    module = importlib.import_module(f"services.{service}.config")
    cls = next(getattr(module, n) for n in dir(module) if n.endswith("Settings") and n != "ServiceSettings")
    documented = {n for n in env_names(cls) if n in README or n.replace(service.upper(), "<NAME>") in README}
    assert documented == env_names(cls)


def test_the_readme_shows_the_two_commands():
    assert "make run" in README and "make test" in README


def test_the_dispatch_docs_list_exactly_the_transitions_of_the_state_machine():
    from services.dispatch.domain.lifecycle import TRANSITIONS

    docs = (Path(__file__).resolve().parents[2] / "docs" / "dispatch.md").read_text()
    rows = {tuple(cell.strip(" `") for cell in line.split("|")[1:4])
            for line in docs.splitlines() if line.startswith("| `") and line.count("|") == 7}
    documented = {(state, action) for state, action, _ in rows}
    assert documented == {(s.value, a.value) for s, a in TRANSITIONS}
    for (state, action), transition in TRANSITIONS.items():
        to = transition.to_state.value if transition.to_state else "(the state it paused in)"
        assert (state.value, action.value, to) in rows
