"""Reservations of upload requests still arriving against a person's budget of pending upload bytes
(components/upload_budget.py): admitted or refused before the body is read, turned into the file's own hold without
counting twice, given back when the request is over."""
from __future__ import annotations

import pytest

from components import upload_budget
from components.upload_budget import PendingUploads, Refusal, Reservation
from pulse_live.config import reset_settings
from pulse_live.upload_limit import SLACK_BYTES, request_limit

USER, OTHER = 7, 8


@pytest.fixture
def budget(monkeypatch) -> PendingUploads:
    monkeypatch.setenv('PULSE_MAX_PENDING_UPLOAD_BYTES', '1000000')
    monkeypatch.setenv('PULSE_MAX_UPLOAD_BYTES', '400000')
    monkeypatch.setenv('PULSE_MAX_UPLOAD_FILES', '3')
    reset_settings()
    fresh = PendingUploads()
    monkeypatch.setattr(upload_budget, 'pending_uploads', fresh)
    return fresh


def _admit(length: int | None, user: int = USER) -> Reservation:
    admitted = upload_budget.admit(user, 'page', length)
    assert isinstance(admitted, Reservation), admitted
    return admitted


def test_declared_lengths_are_reserved_until_the_budget_is_used_up(budget) -> None:
    first, second = _admit(450_000), _admit(450_000)
    assert budget.reserved(USER) == 900_000 and budget.remaining(USER) == 100_000
    refused = upload_budget.admit(USER, 'page', 300_000)
    assert refused == Refusal(413, upload_budget.budget_message(900_000))
    assert budget.uploading(USER) == 2  # the refused one reserved nothing
    assert isinstance(upload_budget.admit(OTHER, 'page', 300_000), Reservation)  # a budget per person
    for r in (first, second):
        budget.end(r)
    assert budget.in_use(USER) == 0 and budget.uploading(USER) == 0


def test_the_framing_slack_lets_a_file_that_fills_the_budget_through_but_reserves_no_more_than_it(budget) -> None:
    filling = _admit(1_000_000 + 300)  # one file of exactly the budget, plus its multipart framing
    assert filling.amount == 1_000_000 and filling.limit == 1_000_000 + SLACK_BYTES
    assert budget.in_use(USER) == 1_000_000
    assert budget.hold(USER, 'page', 'file', 1_000_000, claim=filling)  # the file takes the reservation over
    assert budget.held(USER) == 1_000_000 and budget.reserved(USER) == 0


def test_more_requests_at_once_than_a_selection_of_files_are_refused(budget) -> None:
    assert upload_budget.max_uploads_at_once() == 3  # the browser sends each chosen file on its own, all at once
    running = [_admit(10) for _ in range(3)]
    refused = upload_budget.admit(USER, 'page', 10)
    assert isinstance(refused, Refusal) and refused.status == 429
    budget.end(running[0])
    assert isinstance(upload_budget.admit(USER, 'page', 10), Reservation)


def test_a_chunked_request_reserves_what_is_left_and_may_send_no_more(budget, monkeypatch) -> None:
    chunked = _admit(None)
    assert chunked.amount == 1_000_000 and chunked.limit == 1_000_000 + SLACK_BYTES
    refused = upload_budget.admit(USER, 'page', None)
    assert isinstance(refused, Refusal) and refused.status == 413  # nothing left for a second one
    budget.end(chunked)
    monkeypatch.setenv('PULSE_MAX_PENDING_UPLOAD_BYTES', str(10 * request_limit()))
    reset_settings()
    assert _admit(None).amount == request_limit()  # never more than one request may carry


def test_a_file_moves_its_bytes_from_the_reservation_without_counting_twice(budget) -> None:
    request = _admit(700_000)
    budget.hold(USER, 'page', 'other page file', 250_000)  # a file held elsewhere: 50,000 left
    assert budget.remaining(USER) == 50_000
    assert budget.hold(USER, 'page', 'a', 400_000, claim=request)  # fits only because it is the request's own
    assert request.amount == 300_000 and budget.in_use(USER) == 950_000
    assert budget.hold(USER, 'page', 'b', 300_000, claim=request)
    assert request.amount == 0 and budget.in_use(USER) == 950_000
    assert not budget.hold(USER, 'page', 'c', 100_000, claim=request)  # past what the request brought
    budget.end(request)
    assert budget.held(USER) == 950_000 and budget.reserved(USER) == 0


def test_what_the_files_did_not_claim_goes_back_when_the_request_ends(budget) -> None:
    request = _admit(500_000)
    assert budget.hold(USER, 'page', 'small', 1_000, claim=request)
    budget.end(request)  # refused files, framing, a client gone mid-body: all of it back
    assert budget.in_use(USER) == 1_000 and budget.uploading(USER) == 0
    assert budget.hold(USER, 'page', 'late', 1_000, claim=request)  # an ended request frees nothing more
    assert budget.in_use(USER) == 2_000


def test_another_persons_reservation_frees_nothing(budget) -> None:
    theirs = _admit(900_000, user=OTHER)
    _admit(900_000)
    assert not budget.hold(USER, 'page', 'x', 200_000, claim=theirs)
    assert theirs.amount == 900_000
