"""User-facing error text in Simplified Chinese, once for every service; the machine-readable part (`code`, each
field's `type`) stays as it is. Pydantic's English messages are replaced by type; a type not listed keeps its
message (a validator's own message is already written for users)."""

from __future__ import annotations

from typing import Any

# pydantic error type → message; {name} fills from the error's ctx.
FIELD_MESSAGES = {
    "missing": "必填",
    "string_type": "应为字符串",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "不能超过 {max_length} 个字符",
    "string_pattern_mismatch": "格式不对（应符合 {pattern}）",
    "int_type": "应为整数", "int_parsing": "应为整数", "int_from_float": "应为整数",
    "float_type": "应为数字", "float_parsing": "应为数字", "finite_number": "应为有限的数字",
    "bool_type": "应为 true 或 false", "bool_parsing": "应为 true 或 false",
    "greater_than": "必须大于 {gt}", "greater_than_equal": "不能小于 {ge}",
    "less_than": "必须小于 {lt}", "less_than_equal": "不能大于 {le}",
    "literal_error": "只能是 {expected}", "enum": "只能是 {expected}",
    "datetime_type": "应为 ISO 8601 时间", "datetime_parsing": "应为 ISO 8601 时间（如 2026-11-23T08:00:00+08:00）",
    "datetime_from_date_parsing": "应为 ISO 8601 时间（如 2026-11-23T08:00:00+08:00）",
    "timezone_aware": "须带时区（如 +08:00）", "timezone_naive": "不能带时区",
    "date_type": "应为日期", "date_parsing": "应为日期（如 2026-11-23）", "date_from_datetime_parsing": "应为日期（如 2026-11-23）",
    "dict_type": "应为 JSON 对象", "model_type": "应为 JSON 对象", "model_attributes_type": "应为 JSON 对象",
    "list_type": "应为数组", "tuple_type": "应为数组",
    "too_short": "至少 {min_length} 项", "too_long": "最多 {max_length} 项",
    "extra_forbidden": "不认识的字段", "uuid_parsing": "应为 UUID", "uuid_type": "应为 UUID",
    "url_parsing": "应为网址", "url_scheme": "网址协议应为 {expected_schemes}", "json_invalid": "不是有效的 JSON",
    "union_tag_invalid": "类型只能是 {expected_tags}", "decimal_parsing": "应为数字",
}

# Starlette's default texts and a stable code per status, for answers raised without a message of our own.
STATUS_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
                422: "invalid_input", 429: "rate_limited", 503: "unavailable"}
STATUS_TEXTS = {"Not Found": "未找到", "Method Not Allowed": "不支持该请求方法", "Unauthorized": "未登录或令牌无效",
                "Forbidden": "无权访问", "Too Many Requests": "请求过于频繁，请稍后再试",
                "Bad Request": "请求无效", "Unprocessable Content": "输入无效"}


def field_message(error: dict[str, Any]) -> str:
    """One pydantic error's message for users, in Chinese where its type is known."""
    template = FIELD_MESSAGES.get(error.get("type", ""))
    message = error.get("msg", "")
    if template is None:
        return message.removeprefix("Value error, ")
    try:
        return template.format(**{k: _text(v) for k, v in (error.get("ctx") or {}).items()})
    except (KeyError, IndexError):
        return message


def _text(value: Any) -> str:
    return str(value).replace("'", "")


def status_code(status: int) -> str:
    return STATUS_CODES.get(status, "refused" if status < 500 else "server_error")


def status_text(detail: Any) -> Any:
    return STATUS_TEXTS.get(detail, detail) if isinstance(detail, str) else detail
