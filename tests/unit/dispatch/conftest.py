from __future__ import annotations

import pytest

from services.dispatch.domain.org import OrgTree
from tests.unit.dispatch.city import build_org


@pytest.fixture(scope="session")
def org() -> OrgTree:
    return build_org()
