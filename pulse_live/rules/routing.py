"""Routing: the ordered rules that put a new ticket into a queue.

A rule matches when every condition it sets matches (type, service, organisation, channel, any one of its keywords
in title or description); a rule without conditions matches everything. The first matching active rule wins; no
match means the default queue (``services/routing.py`` knows which that is).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from .prioritisation import contains_keyword


class Rule(Protocol):
    """A routing rule as the engine reads it (``models.RoutingRule``)."""
    type_id: int | None
    service_id: int | None
    organisation_id: int | None
    channel: str | None
    keywords: str


R = TypeVar('R', bound=Rule)


@dataclass(frozen=True)
class Facts:
    """What routing reads of a ticket."""
    type_id: int | None
    service_id: int | None
    organisation_id: int | None
    channel: str | None
    text: str  # title and description


def split_keywords(keywords: str) -> list[str]:
    return [k.strip() for k in (keywords or '').split(',') if k.strip()]


def matches(rule: Rule, facts: Facts) -> bool:
    if rule.type_id is not None and rule.type_id != facts.type_id:
        return False
    if rule.service_id is not None and rule.service_id != facts.service_id:
        return False
    if rule.organisation_id is not None and rule.organisation_id != facts.organisation_id:
        return False
    if rule.channel and rule.channel != facts.channel:
        return False
    keywords = split_keywords(rule.keywords)
    if keywords:
        return any(contains_keyword(k, facts.text) for k in keywords)
    return True


def first_match(rules: Iterable[R], facts: Facts) -> R | None:
    """The first of the (active, ordered) ``rules`` that matches, or None."""
    return next((rule for rule in rules if matches(rule, facts)), None)
