"""/admin/escalation: an admin makes a rule through the dialog (a bad share is refused with its message, the dialog
stays), sees it described in the list, switches it off; adds a webhook (a non-http URL refused); agents and managers
do not get the page."""
from __future__ import annotations

import asyncio

from nicegui.testing import User
from sqlalchemy import select

from pulse_live import db
from pulse_live.models import EscalationRule, WebhookEndpoint
from tests.ui.conftest import header_links, login


async def test_admin_makes_a_rule_and_switches_it_off(user: User, people) -> None:
    await login(user, 'admin@pulse.demo')
    await user.open(header_links(user)['Escalation'])  # in the admin's header
    await user.should_see('No rule yet')
    user.find(marker='rule-new').click()
    await user.should_see(marker='rule-name')
    user.find(marker='rule-name').type('First response nearly gone')
    user.find(marker='rule-share').elements.pop().value = 0
    user.find(marker='rule-save').click()
    await user.should_see('A share of 0 % or less')  # refused; the dialog stays
    user.find(marker='rule-share').elements.pop().value = 80
    user.find(marker='rule-notify-managers').elements.pop().value = True
    user.find(marker='rule-save').click()
    await user.should_see('When 80 % of first response used (business hours) · for every ticket')
    await user.should_see("Then raise the escalation level; notify the managers (in-app)")
    async with db.session() as s:
        rule = (await s.execute(select(EscalationRule))).scalar_one()
    assert (rule.criterion, rule.target, rule.share_percent, rule.is_active) == ('target_share', 'first_response',
                                                                                 80, True)
    user.find(marker='rule-active').elements.pop().value = False
    async with db.session() as s:
        for _ in range(50):
            s.expire_all()
            if not (await s.get(EscalationRule, rule.id)).is_active:
                break
            await asyncio.sleep(0.05)
        assert not (await s.get(EscalationRule, rule.id)).is_active


async def test_a_webhook_that_is_not_http_is_refused(user: User, people) -> None:
    await login(user, 'admin@pulse.demo')
    await user.open('/admin/escalation')
    user.find(marker='webhook-new').click()
    await user.should_see(marker='webhook-url')
    user.find(marker='webhook-name').type('Pager')
    user.find(marker='webhook-url').type('ftp://pager.example.com/in')
    user.find(marker='webhook-save').click()
    await user.should_see('Only http:// and https:// URLs can receive webhooks.')
    async with db.session() as s:
        assert (await s.execute(select(WebhookEndpoint))).scalars().all() == []


async def test_managers_and_agents_do_not_get_the_page(user: User, people) -> None:
    await login(user, 'maria@pulse.demo')
    assert header_links(user) and 'Escalation' not in header_links(user)
    await user.open('/admin/escalation')
    await user.should_not_see('New rule')
