"""The routing engine (rules/routing.py), pure: ticket facts in, the first matching rule out. A rule matches when every
condition it sets matches; a rule without conditions matches everything; keywords are whole words, any one is
enough; order decides between several matches."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from pulse_live.rules.routing import Facts, first_match, matches, split_keywords


@dataclass
class Rule:
    name: str
    type_id: int | None = None
    service_id: int | None = None
    organisation_id: int | None = None
    channel: str | None = None
    keywords: str = ''


def facts(text: str = 'Printer on floor 3 is down', **values) -> Facts:
    base = {'type_id': 1, 'service_id': 10, 'organisation_id': 100, 'channel': 'portal'}
    return Facts(text=text, **{**base, **values})


def test_the_first_matching_rule_wins_in_the_given_order():
    vpn, network, everything = Rule('vpn', keywords='vpn'), Rule('network', service_id=10), Rule('all')
    ticket = facts('VPN drops every hour')
    assert first_match([vpn, network, everything], ticket) is vpn
    assert first_match([network, vpn, everything], ticket) is network  # moving a rule up changes the queue
    assert first_match([vpn, everything], facts('Printer jam')) is everything  # a rule without conditions


def test_no_rule_matching_means_none_so_the_default_queue_applies():
    rules = [Rule('vpn', keywords='vpn'), Rule('acme', organisation_id=200)]
    assert first_match(rules, facts('Printer jam')) is None
    assert first_match([], facts()) is None
    assert first_match(rules, facts('Printer jam', organisation_id=200)) is rules[1]  # the same rules do route others


@pytest.mark.parametrize('rule, matched', [
    (Rule('type', type_id=1), True),
    (Rule('other type', type_id=2), False),
    (Rule('service', service_id=10), True),
    (Rule('other service', service_id=11), False),
    (Rule('organisation', organisation_id=100), True),
    (Rule('other organisation', organisation_id=101), False),
    (Rule('channel', channel='portal'), True),
    (Rule('other channel', channel='mail'), False),
    (Rule('all set', type_id=1, service_id=10, organisation_id=100, channel='portal', keywords='printer'), True),
    (Rule('all but one', type_id=1, service_id=10, organisation_id=100, channel='portal', keywords='vpn'), False),
])
def test_every_condition_a_rule_sets_must_match(rule, matched):
    assert matches(rule, facts()) is matched


def test_a_condition_the_rule_leaves_open_matches_a_ticket_without_the_fact():
    bare = facts(type_id=None, service_id=None, organisation_id=None, channel=None)
    assert matches(Rule('keyword only', keywords='printer'), bare)
    assert not matches(Rule('needs a service', service_id=10), bare)


@pytest.mark.parametrize('keywords, text, matched', [
    ('invoice, billing', 'Question about my BILLING address', True),   # any one keyword, any case
    ('invoice, billing', 'Printer on floor 3', False),
    ('vpn', 'VPN, again!', True),                                       # punctuation around a word
    ('vpn', 'The vpnclient crashed', False),                            # whole words only
    ('ms teams', 'MS Teams will not start', True),                      # a phrase
    (' , ,', 'anything at all', True),                                  # only separators: no keyword condition
])
def test_keywords_match_whole_words_in_any_case(keywords, text, matched):
    assert matches(Rule('keywords', keywords=keywords), facts(text)) is matched


def test_keywords_are_split_on_commas_and_trimmed():
    assert split_keywords(' invoice , billing,,  ms teams ') == ['invoice', 'billing', 'ms teams']
    assert split_keywords('') == [] and split_keywords(None) == []  # type: ignore[arg-type]
