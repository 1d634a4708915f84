"""Trimming quoted history never stops the server: a hostile body is trimmed in a worker process with a time limit.

The attack: one mail whose body is ``On a a a …`` (40 KB) to a watched mailbox held the interpreter for 25 s in the
trimmer's regular expressions — every page, socket and API call of the process waited (a thread did not help)."""
import asyncio
import time

from pulse_live import mail_trim
from pulse_live.services import mail_intake

HOSTILE = 'On ' + 'a ' * 20_000

REPLY = 'Thanks, the printer works again after the restart.'
QUOTED = ('\n\nOn Mon, 1 Dec 2026 at 10:00, Anna Keller <anna@pulse.demo> wrote:\n'
          + '\n'.join('> ' + 'We restarted the spooler on the print server and cleared the queue. ' * 12
                      for _ in range(30)))


async def _longest_stall_while(work) -> tuple[object, float]:
    gaps: list[float] = []

    async def heartbeat() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.05)
    try:
        result = await work
    finally:
        beat.cancel()
    return result, max(gaps)


def _mail(body: str, message_id: str) -> bytes:
    return (f'From: someone@example.org\r\nTo: support@pulse.local\r\nSubject: hello\r\n'
            f'Message-ID: <{message_id}@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'
            f'{body}\r\n').encode()


async def test_a_hostile_body_is_kept_whole_and_the_server_goes_on():
    started = time.monotonic()
    prepared, stall = await _longest_stall_while(
        mail_intake.prepare(mailbox_id=1, uidvalidity=1, uid=1, raw=_mail(HOSTILE, 'hostile')))
    assert time.monotonic() - started < mail_trim.TIMEOUT_S + 5  # 25 s and more before
    assert stall < 0.5, f'the event loop stood still for {stall:.2f} s'
    parsed = prepared.parsed
    assert parsed is not None and parsed.body == HOSTILE.strip() and not parsed.untrimmed
    assert any('not trimmed' in note for note in parsed.notes)


async def test_a_long_reply_is_trimmed_in_the_worker_and_it_recovers_after_a_timeout():
    text = REPLY + QUOTED
    assert not mail_trim.is_cheap(text)  # this one goes to the worker process
    assert await mail_trim.trim(text) == (REPLY, True)
    assert await mail_trim.trim(HOSTILE, timeout_s=0.5) == (HOSTILE.strip(), False)  # the worker is killed
    assert await mail_trim.trim(text) == (REPLY, True)  # and the next mail gets a new one
    prepared = await mail_intake.prepare(mailbox_id=1, uidvalidity=1, uid=2, raw=_mail(text, 'long-reply'))
    assert prepared.parsed is not None and prepared.parsed.body == REPLY and prepared.parsed.notes == []
    await mail_trim.shutdown()


async def test_an_ordinary_reply_is_trimmed_at_once():
    text = 'Works now.\n\nOn Mon, 1 Dec 2026 at 10:00, Anna <anna@pulse.demo> wrote:\n> Try a restart.'
    assert mail_trim.is_cheap(text)
    assert mail_trim.trim_inline(text) == 'Works now.'
    assert mail_intake.parse_mail(_mail(text, 'short')).body == 'Works now.'


async def test_a_thread_id_too_large_for_a_ticket_number_is_no_thread(people, box):
    # the attack: In-Reply-To <ticket-99999999999999999999999@pulse-live> made the import raise (OverflowError from
    # the database driver) instead of opening a ticket; the mailbox retried it round after round
    from .conftest import email_tickets, imported, mail
    huge = '9' * 23
    await box.deliver(mail(subject='Printer', body='The printer is jammed.',
                           headers={'In-Reply-To': f'<ticket-{huge}@pulse-live>',
                                    'References': ' '.join(f'<ticket-{n}@pulse-live>' for n in range(1000, 1300))}))
    await box.import_now()
    [record] = await imported(box.id)
    assert record.outcome == 'ticket'
    [ticket] = await email_tickets()
    assert ticket.title == 'Printer'
