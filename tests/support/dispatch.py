"""Helpers for tests that drive dispatch: incidents to feed it, tokens for its users."""

from __future__ import annotations

import uuid
from typing import Any

from shared.auth import mint_token
from shared.events.catalog import INCIDENT_ACCEPTED
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import AppealType, Channel, IncidentAccepted, LocatedBy, Location, Urgency
from shared.settings import ServiceSettings

# In the demo city: 通州区 (320612) with its first two towns; 崇川区 (320613).
TONGZHOU, CHONGCHUAN, CITY = "320612", "320613", "320600"
TZ_TOWN_A, TZ_TOWN_B, CC_TOWN = "320612101", "320612102", "320613101"
TERRITORIAL = "020101"  # 生活垃圾未及时清运: the town handles it (属地)
DEPARTMENT = "040102"  # 水压不足: the county's water bureau


def accepted_incident(*, town: str | None = TZ_TOWN_A, county: str | None = None, category: str = TERRITORIAL,
                      appeal_type: AppealType = AppealType.COMPLAINT, urgency: Urgency = Urgency.NORMAL,
                      incident_id: str | None = None, **extra: Any) -> CloudEvent[IncidentAccepted]:
    data = IncidentAccepted(
        incident_id=incident_id or str(uuid.uuid4()), channel=Channel.HOTLINE,
        source_ref=extra.pop("source_ref", f"12345-test-{uuid.uuid4().hex[:8]}"), appeal_type=appeal_type,
        category_code=category, description=extra.pop("description", "小区垃圾三天没有清运"), urgency=urgency,
        location=Location(town_code=town, county_code=county or (town[:6] if town else None),
                          address=extra.pop("address", "测试地址")),
        located_by=LocatedBy.GRID, reported_at=utcnow(), accepted_at=utcnow(), **extra)
    return CloudEvent[IncidentAccepted](source="/mcc/intake", type=INCIDENT_ACCEPTED.type, data=data,
                                        subject=data.incident_id)


def bearer(role: str, unit: str, *, subject: str | None = None,
           secret: str = ServiceSettings().token_secret) -> dict[str, str]:
    token = mint_token(secret, subject=subject or f"{role}@{unit}", role=role, unit_code=unit)
    return {"Authorization": f"Bearer {token}"}


TOWN_A = bearer("town_dispatcher", TZ_TOWN_A)
TOWN_B = bearer("town_dispatcher", TZ_TOWN_B)
COUNTY = bearer("county_dispatcher", TONGZHOU)
OTHER_COUNTY = bearer("county_dispatcher", CHONGCHUAN)
CITY_CENTRE = bearer("city_dispatcher", CITY)
OPERATOR = bearer("operator", CITY)
ADMIN = bearer("admin", CITY)
