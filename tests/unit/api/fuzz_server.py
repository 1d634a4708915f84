"""A server of the API alone for the Schemathesis run (``test_schemathesis.py``) and the benchmark: the tests'
data set (tests/factories.py) with a few tickets, messages and an internal note, then uvicorn.

    python -m tests.unit.api.fuzz_server PORT TOKENS_JSON      (database from PULSE_DATABASE_URL / _SCHEMA)

Writes ``{"staff": <token>, "customer": <token>, "references": {...}}`` to TOKENS_JSON once it serves."""
from __future__ import annotations

import asyncio
import json
import sys

import uvicorn
from fastapi import FastAPI

from pulse_live import db, storage
from pulse_live.api import install
from pulse_live.config import get_settings
from pulse_live.models import Base
from pulse_live.services import api_tokens, chatter
from tests.factories import make_people, make_ticket


async def seed(tokens_path: str) -> None:
    settings = get_settings()
    engine = db.init(settings.resolved_database_url(), schema=settings.database_schema)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    people = await make_people()
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    references = {}
    for who, title in (('carl@acme.demo', 'Printer down'), ('eva@acme.demo', 'Cannot log in'),
                       ('tom@globex.demo', 'Globex VPN')):
        ticket = await make_ticket(people, title, customer_id=people.users[who].id)
        await chatter.post_message(actor=anna, ticket_id=ticket.id, body='We are on it.')
        await chatter.post_message(actor=anna, ticket_id=ticket.id, body='internal', internal=True,
                                   files=[storage.UploadedFile('note.txt', 'text/plain', b'internal')])
        references[who] = ticket.reference
    staff = await api_tokens.create_token(actor=anna, name='fuzz staff', scope='write', expires_in_days=1)
    customer = await api_tokens.create_token(actor=carl, name='fuzz customer', scope='write', expires_in_days=1)
    await db.dispose()
    with open(tokens_path, 'w') as f:
        json.dump({'staff': staff.secret, 'customer': customer.secret, 'references': references}, f)


def main() -> None:
    port, tokens_path = int(sys.argv[1]), sys.argv[2]
    asyncio.run(seed(tokens_path + '.tmp'))
    app = FastAPI()
    install(app)

    @app.on_event('startup')
    async def startup() -> None:
        settings = get_settings()
        db.init(settings.resolved_database_url(), schema=settings.database_schema)
        import os
        os.replace(tokens_path + '.tmp', tokens_path)  # ready

    uvicorn.run(app, host='127.0.0.1', port=port, log_level='warning')


if __name__ == '__main__':
    main()
