#!/usr/bin/env python3
"""Business-time arithmetic (``pulse_live.sla.calendar``) at the sizes the SLA clock needs. No database.

Calendar: Europe/Zurich, Mon-Fri 08:00-12:00 and 13:00-17:00, holidays of CH-ZH. Timed, in-process:

CPU time (process time), so other work on a shared machine does not inflate it.

  add_4h_cold_us / add_4h_warm_us     one due time 4 business hours ahead, caches cleared / warm (median, µs)
  add_10000h_cold_ms / _warm_ms       10,000 business hours ahead (about 5 years): the walk skips whole weeks
  between_1y_warm_us                  business time across a year (pause accounting, share of a target used)
  tickets_due_s                       due times (4 h and 2 business days) for N tickets created at random
                                      moments over the last 30 days, from cold caches: what recomputing every
                                      open ticket after a calendar change costs in the arithmetic alone

Usage (from the repository root):

    .venv/bin/python benchmarks/business_time.py [--tickets 100000]

The last line is one JSON object with these keys.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulse_live.sla import calendar as sla  # noqa: E402

CAL = sla.make_calendar(timezone='Europe/Zurich', hours={d: ['08:00-12:00', '13:00-17:00'] for d in range(5)},
                        country='CH', subdivision='ZH')
START = datetime(2026, 12, 4, 15, 30)  # Friday 16:30 in Zurich, naive UTC as the app stores it


def clear() -> None:
    for cache in (sla._midnight, sla._stretches, sla._day_total, sla._week_total):
        cache.cache_clear()


def timed(fn, rounds: int, *, cold: bool, batch: int = 1) -> list[float]:
    """CPU seconds per call (process time: other work on a shared machine does not count), per batch of calls."""
    out = []
    for r in range(rounds):
        if cold:
            clear()
        t = time.process_time()
        for i in range(batch):
            fn(r * batch + i)
        out.append((time.process_time() - t) / batch)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tickets', type=int, default=100_000)
    args = parser.parse_args()
    minute = timedelta(minutes=1)
    four, big = timedelta(hours=4), timedelta(hours=10_000)
    result: dict[str, float | int] = {}
    result['add_4h_cold_us'] = statistics.median(
        timed(lambda i: sla.add_business_time(CAL, START + i * minute, four), 200, cold=True)) * 1e6
    result['add_4h_warm_us'] = statistics.median(
        timed(lambda i: sla.add_business_time(CAL, START + i * minute, four), 20, cold=False, batch=1000)) * 1e6
    result['add_10000h_cold_ms'] = statistics.median(
        timed(lambda i: sla.add_business_time(CAL, START + i * minute, big), 5, cold=True)) * 1e3
    result['add_10000h_warm_ms'] = statistics.median(
        timed(lambda i: sla.add_business_time(CAL, START + i * minute, big), 10, cold=False, batch=20)) * 1e3
    year = timedelta(days=365)
    result['between_1y_warm_us'] = statistics.median(timed(
        lambda i: sla.business_time_between(CAL, START + i * minute, START + year), 10, cold=False, batch=200)) * 1e6
    rng = random.Random(14)
    created = [START - timedelta(seconds=rng.randrange(30 * 86400)) for _ in range(args.tickets)]
    clear()
    t = time.process_time()
    for at in created:
        sla.add_business_time(CAL, at, four)
        sla.add_business_time(CAL, at, timedelta(hours=18))
    result['tickets'] = args.tickets
    result['tickets_due_s'] = time.process_time() - t
    for key, value in result.items():
        print(f'{key:22} {value:10.3f}' if isinstance(value, float) else f'{key:22} {value:10d}')
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == '__main__':
    main()
