"""Hotline HTTP API for 12345 operators. Every route needs an operator's bearer token (knowledge edits: an
operator or an admin).

Routes parse, call one handler and answer; refusals are raised by the handlers as `shared.errors` and answered
by the app's one exception handler (shared/http.py) in the documented shape."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.hotline.domain.appeal import parse_appeal_type
from services.hotline.service import handlers
from shared import idempotency
from shared.auth import Principal, require_roles
from shared.deps import RuntimeDep, UowDep
from shared.errors import Invalid
from shared.events.v1 import AppealType, Coordinates, Urgency
from shared.phones import normalise_phone
from shared.roles import Role

router = APIRouter(prefix="/api/v1")

Operator = Annotated[Principal, require_roles(Role.OPERATOR)]
Editor = Annotated[Principal, require_roles(Role.OPERATOR, Role.ADMIN, citywide=True)]  # the 12345 centre's base


async def hotline_context(request: Request) -> handlers.HotlineContext:
    """What the composition root built for the use cases (reference data, policies, the group writer)."""
    return request.app.state.hotline


Context = Annotated[handlers.HotlineContext, Depends(hotline_context)]


async def idempotency_key(key: Annotated[str | None, Header(alias=idempotency.HEADER)] = None) -> str | None:
    """The optional Idempotency-Key, refused as a header error when malformed."""
    if key is not None and not idempotency.valid_key(key):
        raise Invalid(idempotency.HEADER, "须为 1–200 个可打印 ASCII 字符，不含空格 (1-200 printable ASCII characters, "
                                          "no spaces)", where="header")
    return key


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]


# --- shapes ---------------------------------------------------------------------------------------------------


class ScopeIn(BaseModel):
    """The operator's own call on scope; it beats the category table and the keyword rules."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["in_scope", "emergency", "out_of_scope"]
    emergency_line: Literal["110", "119", "120", "122"] | None = None
    rule: Literal["litigation", "arbitration", "petition", "discipline", "disclosure"] | None = Field(
        None, description="out-of-scope rule: 诉讼 / 仲裁 / 信访 / 纪检监察 / 信息公开")
    reason: str | None = Field(None, max_length=500)
    channel: str | None = Field(None, max_length=200)


def _normal_phone(value: str | None) -> str | None:
    return normalise_phone(value) if value is not None and value.strip() else None


class AppealCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    caller_phone: str | None = Field(None, max_length=30, description="来电号码 (stored in full only here)")
    caller_name: str | None = Field(None, max_length=50)
    appeal_type: AppealType = Field(description="咨询/求助/投诉/举报/建议/表扬, or consultation/help/...")
    category_code: str = Field(min_length=1, max_length=32, description="诉求分类代码 (shared category table)")
    description: str = Field(min_length=1, max_length=10_000)
    address: str | None = Field(None, max_length=500)
    coordinates: Coordinates | None = None
    urgency: Urgency | None = Field(None, description="default: the category's default urgency")
    confidential: bool = Field(False, description="保密件: handling units never learn who called")
    anonymous: bool = False
    scope: ScopeIn | None = Field(None, description="override: in scope, emergency line, or refusal")
    link_to_order: str | None = Field(None, max_length=32,
                                      description="重复件: an order number or appeal number to link to")
    answer_article_id: str | None = Field(None, max_length=64,
                                          description="直接答复: the knowledge article a 咨询 was answered from")
    answer_note: str | None = Field(None, max_length=2000)

    @field_validator("caller_phone")
    @classmethod
    def _caller_phone(cls, value: str | None) -> str | None:
        return _normal_phone(value)

    @field_validator("appeal_type", mode="before")
    @classmethod
    def _appeal_type(cls, value: Any) -> Any:
        return parse_appeal_type(value) if isinstance(value, str) else value


class DuplicateCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    caller_phone: str | None = Field(None, max_length=30)
    category_code: str = Field(min_length=1, max_length=32)
    coordinates: Coordinates | None = None

    @field_validator("caller_phone")
    @classmethod
    def _caller_phone(cls, value: str | None) -> str | None:
        return _normal_phone(value)


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reached: bool
    resolved: bool | None = None
    satisfaction: Literal["satisfied", "basically_satisfied", "dissatisfied"] | None = None
    unit_at_fault: bool | None = None
    comment: str | None = Field(None, max_length=2000)


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category_code: str | None = Field(None, max_length=32)
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000)
    valid_from: date | None = None
    valid_to: date | None = None


class ArticlePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    category_code: str | None
    title: str
    body: str
    valid_from: date | None
    valid_to: date | None
    answer_count: int
    updated_by: str | None


class AppealOut(BaseModel):
    """An appeal on the operator's screen (phone masked; the create answer also has `caller_phone`)."""

    model_config = ConfigDict(extra="allow")
    id: str
    number: str
    disposition: Literal["dispatched", "answered", "emergency", "out_of_scope", "linked"]
    status: str
    order_number: str | None
    emergency_line: str | None
    scope_reason: str | None
    scope_channel: str | None
    linked_to: str | None
    caller_phone_masked: str | None


class AppealCreated(AppealOut):
    caller_phone: str | None
    next_step: str = Field(description="what the operator tells the caller")
    duplicate_candidates: list[dict[str, Any]]
    answer_article: dict[str, Any] | None


# --- appeals --------------------------------------------------------------------------------------------------


@router.post("/appeals", status_code=201, tags=["appeals"], summary="create an appeal from a call",
             response_model=AppealCreated,
             responses={422: {"description": "field-level errors, or an Idempotency-Key reused with another body"}})
async def create_appeal(body: AppealCreate, ctx: Context, runtime: RuntimeDep, principal: Operator,
                        key: IdempotencyKey) -> Any:
    scope = body.scope
    command = handlers.CreateAppeal(
        caller_phone=body.caller_phone, caller_name=body.caller_name, appeal_type=body.appeal_type,
        category_code=body.category_code, description=body.description, address=body.address,
        coordinates=body.coordinates, urgency=body.urgency, confidential=body.confidential,
        anonymous=body.anonymous, link_to_order=body.link_to_order, answer_article_id=body.answer_article_id,
        answer_note=body.answer_note,
        scope=handlers.ScopeChoice(**scope.model_dump()) if scope is not None else None)
    created = await handlers.create_appeal(
        new_uow=runtime.uow, ctx=ctx, command=command, operator=principal.subject,
        operator_unit=principal.unit_code, operator_name=principal.name, idempotency_key=key,
        fingerprint=idempotency.fingerprint(body.model_dump(mode="json")))
    headers = {"Idempotent-Replayed": "true"} if created.replayed else None
    return JSONResponse(created.body, status_code=created.status_code, headers=headers)


@router.post("/appeals/duplicates", tags=["appeals"], summary="重复件: existing orders a call may duplicate")
async def check_duplicates(body: DuplicateCheck, ctx: Context, uow: UowDep, _: Operator) -> Any:
    candidates = await handlers.find_duplicates(uow=uow, ctx=ctx, phone=body.caller_phone,
                                                category_code=body.category_code, point=body.coordinates)
    return {"candidates": candidates}


@router.get("/appeals/{appeal_ref}", tags=["appeals"], response_model=AppealOut,
            summary="an appeal (by id or 受理编号) and its order's state")
async def read_appeal(appeal_ref: str, uow: UowDep, _: Operator) -> Any:
    return JSONResponse(handlers.appeal_answer(await handlers.get_appeal(uow=uow, appeal_ref=appeal_ref)))


@router.post("/appeals/{appeal_ref}/followups", status_code=201, tags=["follow-up"],
             summary="回访: record the follow-up call on a closed order",
             responses={409: {"description": "the order is not closed, or was rated already"}})
async def record_followup(appeal_ref: str, body: FollowUpIn, ctx: Context, uow: UowDep,
                          principal: Operator) -> Any:
    return await handlers.record_followup(uow=uow, ctx=ctx, command=handlers.RecordFollowUp(
        appeal_ref=appeal_ref, operator=principal.subject, operator_name=principal.name,
        operator_kind=principal.kind, reached=body.reached, resolved=body.resolved,
        satisfaction=body.satisfaction, unit_at_fault=body.unit_at_fault, comment=body.comment))


@router.get("/orders/{order_ref}/appeals", tags=["appeals"],
            summary="重复件: the appeals on one order (its master and every linked appeal, with the count)")
async def order_appeals(order_ref: str, uow: UowDep, _: Operator) -> Any:
    return await handlers.order_appeals(uow=uow, order_ref=order_ref)


@router.get("/callers/{phone}/appeals", tags=["appeals"], summary="caller history: earlier appeals by number")
async def caller_history(phone: str, uow: UowDep, _: Operator,
                         limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Any:
    return await handlers.caller_history(uow=uow, phone=phone, limit=limit)


# --- knowledge base -------------------------------------------------------------------------------------------


@router.get("/knowledge/search", tags=["knowledge"], summary="知识库 search: ranked articles in force today")
async def search_knowledge(ctx: Context, _: Operator, q: Annotated[str, Query(min_length=1, max_length=500)],
                           category: Annotated[str | None, Query(max_length=32)] = None,
                           limit: Annotated[int, Query(ge=1, le=50)] = 10) -> Any:
    return {"hits": handlers.search_articles(ctx=ctx, query=q, category=category, limit=limit)}


def _article(body: ArticleIn) -> handlers.WriteArticle:
    return handlers.WriteArticle(category_code=body.category_code, title=body.title, body=body.body,
                                 valid_from=body.valid_from, valid_to=body.valid_to)


@router.post("/knowledge/articles", status_code=201, response_model=ArticlePublic, tags=["knowledge"],
             summary="add an article")
async def create_article(body: ArticleIn, ctx: Context, uow: UowDep, principal: Editor) -> Any:
    return await handlers.create_article(uow=uow, ctx=ctx, data=_article(body),
                                         editor=principal.subject)


@router.get("/knowledge/articles", response_model=list[ArticlePublic], tags=["knowledge"],
            summary="articles, most recently edited first")
async def list_articles(uow: UowDep, _: Editor, category: Annotated[str | None, Query(max_length=32)] = None,
                        offset: Annotated[int, Query(ge=0)] = 0,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Any:
    return await handlers.list_articles(uow=uow, category=category, offset=offset, limit=limit)


@router.get("/knowledge/articles/{article_id}", response_model=ArticlePublic, tags=["knowledge"],
            summary="one article")
async def read_article(article_id: str, uow: UowDep, _: Editor) -> Any:
    return await handlers.get_article(uow=uow, article_id=article_id)


@router.put("/knowledge/articles/{article_id}", response_model=ArticlePublic, tags=["knowledge"],
            summary="replace an article")
async def update_article(article_id: str, body: ArticleIn, ctx: Context, uow: UowDep,
                         principal: Editor) -> Any:
    return await handlers.update_article(uow=uow, ctx=ctx, article_id=article_id,
                                         data=_article(body), editor=principal.subject)


@router.delete("/knowledge/articles/{article_id}", status_code=204, tags=["knowledge"],
               summary="delete an article")
async def delete_article(article_id: str, ctx: Context, uow: UowDep, _: Editor) -> Response:
    await handlers.delete_article(uow=uow, ctx=ctx, article_id=article_id)
    return Response(status_code=204)
