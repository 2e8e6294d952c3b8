"""Machine detections (遥感, sensors): validated and handed to the one door, once per idempotency key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.intake.domain.normalise import (
    DetectionReport,
    IntakeRejected,
    from_detection,
)
from services.intake.service.handlers.common import (
    IDEMPOTENCY,
    Reference,
)
from services.intake.service.handlers.keyscope import check_key_scope
from shared import idempotency
from shared.apikeys import ApiKey
from shared.errors import Invalid, Unavailable
from shared.events.catalog import INCIDENT_REPORTED
from shared.events.envelope import utcnow
from shared.events.v1 import (
    Coordinates,
)
from shared.retry import TransientError
from shared.uow import UnitOfWork


@dataclass(frozen=True, kw_only=True)
class SubmitDetection:
    """The command to hand one machine detection to the one door (the route builds it from the request)."""

    detector: str
    confidence: float
    evidence_url: str
    category_code: str
    coordinates: Coordinates | None = None
    grid_code: str | None = None
    description: str | None = None
    source: str | None = None
    detection_id: str | None = None
    detected_at: datetime | None = None


async def submit_detection(*, new_uow: Any, detection: SubmitDetection, key: ApiKey, idempotency_key: str,
                           fingerprint: str, reference: Reference) -> idempotency.Stored:
    """Validate a detection and hand it to the one door (IncidentReported through the outbox), once per key:
    422 naming the field the domain refuses, 403 outside a scoped key's area, 503 while nothing can place it."""
    category = reference.categories.get(detection.category_code)
    detection_id = detection.detection_id or uuid.uuid4().hex
    try:
        report = from_detection(DetectionReport(
            detection_id=detection_id, detector=detection.detector, confidence=detection.confidence,
            evidence_url=detection.evidence_url, category_code=detection.category_code,
            detected_at=detection.detected_at or utcnow(), coordinates=detection.coordinates,
            grid_code=detection.grid_code, description=detection.description), category=category)
    except IntakeRejected as exc:
        raise Invalid(exc.field, exc.message) from None
    if detection.source:  # the kind of source (遥感, 传感器) names the reporter; the detector is its id
        report = report.model_copy(update={"reporter": report.reporter.model_copy(
            update={"name": detection.source[:50]})})
    try:
        check_key_scope(report, key=key, reference=reference)
    except TransientError:
        raise Unavailable("暂时无法定位（尚无网格登记的副本），请稍后重试") from None
    route = reference.policy.route(report.detection)

    async def create(uow: UnitOfWork) -> tuple[int, Any]:
        await uow.emit(INCIDENT_REPORTED, report, subject=report.incident_id)
        return 202, {"incident_id": report.incident_id, "detection_id": detection_id,
                     "route": "dispatch" if route.dispatch else "review", "threshold": route.threshold,
                     "reason": route.reason}

    return await idempotency.run_once(new_uow, IDEMPOTENCY, scope=f"detections:{key.id}", key=idempotency_key,
                                      fingerprint=fingerprint, create=create)
