"""The staff directory is for admins."""
import logging

from pulse_live.queries.staff import staff_directory
from pulse_live.services import staff
from tests.factories import queue_ids


async def test_the_staff_directory_is_for_admins(people, caplog):
    ada, maria = people.users['admin@pulse.demo'], people.users['maria@pulse.demo']
    nora, _ = await staff.invite(actor=ada, email='nora@pulse.demo', display_name='Nora Berg', role='agent')
    directory = await staff_directory(ada)
    assert [r.name for r in directory.rows][:2] == ['Ada Admin', 'Maria Rossi']  # admins, managers, agents
    assert {r.name for r in directory.rows} == {'Ada Admin', 'Maria Rossi', 'Anna Keller', 'Ben Okafor',
                                                'Daniel Weber', 'Nora Berg'}  # no customers
    assert next(r for r in directory.rows if r.id == nora.id).invited
    assert directory.active_admins == 1 and set(directory.queues.values()) == set(await queue_ids())
    with caplog.at_level(logging.WARNING, logger='pulse_live.security'):
        assert await staff_directory(maria) is None
    assert any('refused' in r.message for r in caplog.records)
