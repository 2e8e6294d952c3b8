"""Hotline settings: MCC_* shared variables plus MCC_HOTLINE_*."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.settings import ServiceSettings


def _alias(name: str) -> AliasChoices:
    return AliasChoices(f"MCC_HOTLINE_{name.upper()}", name)


class HotlineSettings(ServiceSettings):
    service_name: str = "hotline"
    database_url: str = Field("sqlite:///var/hotline.db", validation_alias=_alias("database_url"))
    port: int = Field(8002, validation_alias=_alias("port"))
    categories_file: str | None = Field(None, validation_alias=_alias("categories_file"),
                                        description="category code table (YAML, or CSV by suffix)")
    duplicate_caller_window_h: float = Field(168.0, ge=0, validation_alias=_alias("duplicate_caller_window_h"),
                                             description="same caller within this many hours is a candidate")
    duplicate_category_window_h: float = Field(72.0, ge=0,
                                               validation_alias=_alias("duplicate_category_window_h"),
                                               description="same category nearby within this many hours")
    duplicate_radius_m: float = Field(300.0, ge=0, validation_alias=_alias("duplicate_radius_m"),
                                      description="how near counts as the same place, metres")
    followup_max_attempts: int = Field(3, ge=1, validation_alias=_alias("followup_max_attempts"),
                                       description="unanswered follow-up calls before the order counts as unreachable")
    followup_retry_after_s: float = Field(4 * 3600.0, ge=0, validation_alias=_alias("followup_retry_after_s"),
                                          description="seconds between follow-up calls nobody answered")
    seed_knowledge: bool = Field(True, validation_alias=_alias("seed_knowledge"),
                                 description="load the demo knowledge-base articles into an empty table")
    dispatch_url: str = Field("http://127.0.0.1:8004", validation_alias=_alias("dispatch_url"),
                              description="the dispatch service, whose organisation tree names the console's units")
    org_poll_s: float = Field(5.0, gt=0, validation_alias=_alias("org_poll_s"),
                              description="how often hotline asks dispatch for its organisation tree's version")
    knowledge_poll_s: float = Field(5.0, gt=0, validation_alias=_alias("knowledge_poll_s"),
                                    description="how often a process checks whether another one edited the articles")
