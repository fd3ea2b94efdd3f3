"""Nothing lost, nothing doubled, with several ``alertbot run`` on one database
while processes are killed at random (SIGKILL) and restarted at once.

The harness (tests/chaos_support.py): loopback fakes of the Slack Web API and the
Discord REST API in this process, answering every 15th message post with 429
``Retry-After: 1``; three local RSS files polled every second; a writer adding
one event a second (a unique ``ZQnnnn`` tag in the title, the watched term
"Zephyrion" in title and text), a third of them published again 2–4 s later by
a second outlet, with the same title and text. Four subscriptions to the one
watchlist: a realtime and a digest channel on each platform, digests every 8 s.

Over about 23 s, at least 20 SIGKILLs of a random worker at random moments
(one in each of 22 equal slots), each restarted at once. Then one worker drains
the outbox; the others get SIGTERM. Judged from what the fakes recorded:

* every event is carried by exactly one message in each realtime channel (a
  single alert, or a burst digest when more than ``burst`` were due at once)
  and by exactly one digest in each digest channel: doubles and losses counted
  apart;
* a two-outlet event's realtime alert ends up naming both outlets ("Also
  reported by"), by an edit when the post came first, and no edit touches a
  message of another event or a digest;
* the database has no undelivered outbox row left, no worker exited on its own,
  and no worker tried to reach beyond loopback.

Settings chosen so that the run fits in about 40 s: ``[bot] lease = "8s"``
instead of a minute (a killed worker's claims must go to another within the
test; live workers renew theirs every 2 s), and each worker is forked from a
process that imported the bot once (a fresh interpreter spends most of a
worker's life between kills on imports); ``CHAOS_SPAWN=exec`` starts each as a
new interpreter instead.
``CHAOS_SEED=n`` repeats a schedule of events and kills (process timing differs).
The worker logs stay in the test's tmp_path (``logs/worker<slot>.<start>.log``).
"""

from __future__ import annotations

from pathlib import Path

from tests.chaos_support import Report, run_chaos


def _judge(report: Report) -> None:
    print()
    print(report.text())
    assert not report.problems, report.summary() + "\n" + "\n".join(report.problems)
    assert report.kills >= 20


async def test_two_processes_on_one_sqlite_file(tmp_path: Path) -> None:
    database = str(tmp_path / "chaos.db")
    _judge(await run_chaos(tmp_path, database=database, workers=2, backend="sqlite"))


async def test_three_processes_on_one_postgres_database(tmp_path: Path, pg_url: str) -> None:
    _judge(await run_chaos(tmp_path, database=pg_url, workers=3, backend="postgres"))
