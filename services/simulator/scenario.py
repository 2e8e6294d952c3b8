"""A scenario file (YAML): volumes, the arrival curve, the mixes and the behaviour distributions of one city day."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SCENARIO_DIR = Path(__file__).parent / "scenarios"
APPEAL_TYPES = ("consultation", "help", "complaint", "report", "suggestion", "praise")
TIERS = ("town", "county", "department", "city")


class ScenarioError(ValueError):
    """A scenario file that cannot be simulated; the message names the field."""


@dataclass(frozen=True)
class Delay:
    """A delay in simulated hours: log-normal around `median` with spread `sigma` (0: always the median)."""

    median: float
    sigma: float = 0.0


@dataclass(frozen=True)
class Surge:
    """An incident: extra appeals in one town over some hours (a water-main burst, a flood)."""

    town: str
    start_hour: float
    end_hour: float
    appeals: int
    categories: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    volumes: dict[str, int]
    hourly_curve: tuple[float, ...]
    appeal_types: dict[str, float]
    category_classes: dict[str, float]
    shares: dict[str, float]
    grid_escalated_share: float
    grid_photos: tuple[int, int]
    detection_below_threshold: float
    detection_threshold: float
    sign_delay: dict[str, Delay]
    handle_delay: dict[str, Delay]
    dispatch_shares: dict[str, float]
    followup: dict[str, float]
    surges: tuple[Surge, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)


def available() -> list[str]:
    """The scenarios shipped with mcc."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load(name_or_path: str) -> Scenario:
    """A shipped scenario by name (weekday, typhoon, holiday) or any scenario file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        raise ScenarioError(f"no scenario {name_or_path!r}; shipped: {', '.join(available())}")
    return parse(yaml.safe_load(path.read_text(encoding="utf-8")), default_name=path.stem)


def _shares(raw: dict[str, Any] | None, where: str, allowed: tuple[str, ...] | None = None) -> dict[str, float]:
    out = {str(k): float(v) for k, v in (raw or {}).items()}
    if not out or any(v < 0 for v in out.values()) or sum(out.values()) <= 0:
        raise ScenarioError(f"{where}: a non-empty mapping of non-negative weights")
    if allowed is not None and (unknown := set(out) - set(allowed)):
        raise ScenarioError(f"{where}: unknown {sorted(unknown)}; allowed {list(allowed)}")
    return out


def _delays(raw: dict[str, Any] | None, where: str) -> dict[str, Delay]:
    out = {}
    for tier in TIERS:
        spec = (raw or {}).get(tier, (raw or {}).get("default"))
        if not isinstance(spec, dict) or "median" not in spec:
            raise ScenarioError(f"{where}.{tier}: {{median: hours, sigma: spread}} (or a default)")
        out[tier] = Delay(float(spec["median"]), float(spec.get("sigma", 0)))
    return out


def parse(raw: dict[str, Any], *, default_name: str = "scenario") -> Scenario:
    """A validated scenario from the parsed YAML."""
    if not isinstance(raw, dict):
        raise ScenarioError("a scenario is a mapping")
    curve = tuple(float(x) for x in raw.get("hourly_curve") or ())
    if len(curve) != 24 or min(curve) < 0 or sum(curve) <= 0:
        raise ScenarioError("hourly_curve: 24 non-negative weights, one per hour from 00:00")
    volumes = {k: int(v) for k, v in (raw.get("volumes") or {}).items()}
    for key in ("appeals", "grid_events", "open311", "detections"):
        volumes.setdefault(key, 0)
    grid = raw.get("grid") or {}
    det = raw.get("detections") or {}
    dispatch = raw.get("dispatch") or {}
    photos = grid.get("photos", [1, 2])
    surges = tuple(Surge(town=str(s["town"]), start_hour=float(s["start_hour"]), end_hour=float(s["end_hour"]),
                         appeals=int(s["appeals"]), categories=tuple(str(c) for c in s["categories"]),
                         description=str(s.get("description", "")))
                   for s in raw.get("surges") or ())
    return Scenario(
        name=str(raw.get("name", default_name)), title=str(raw.get("title", default_name)), volumes=volumes,
        hourly_curve=curve, appeal_types=_shares(raw.get("appeal_types"), "appeal_types", APPEAL_TYPES),
        category_classes=_shares(raw.get("category_classes"), "category_classes"),
        shares={k: float(v) for k, v in (raw.get("shares") or {}).items()},
        grid_escalated_share=float(grid.get("escalated_share", 0.1418)),
        grid_photos=(int(photos[0]), int(photos[1])),
        detection_below_threshold=float(det.get("below_threshold", 0.2)),
        detection_threshold=float(det.get("threshold", 0.8)),
        sign_delay=_delays(dispatch.get("sign_hours"), "dispatch.sign_hours"),
        handle_delay=_delays(dispatch.get("handle_hours"), "dispatch.handle_hours"),
        dispatch_shares={k: float(v) for k, v in (dispatch.get("shares") or {}).items()},
        followup={k: float(v) for k, v in (raw.get("followup") or {}).items()},
        surges=surges, sources={str(k): str(v) for k, v in (raw.get("sources") or {}).items()},
    )
