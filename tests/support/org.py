"""The demo city's organisation tree as a fixed chart, for apps a test builds without a dispatch to follow."""

from __future__ import annotations

import functools

from shared import democity
from shared.orgchart import OrgChart
from shared.snapshots import Fixed


@functools.cache
def _chart() -> OrgChart:
    return OrgChart(democity.units())


def demo_org() -> Fixed[OrgChart]:
    """What dispatch serves when it loaded the demo city (its default), without dispatch."""
    return Fixed(_chart())
