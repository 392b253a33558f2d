"""Feedback benchmark: sentiment scoring rate, NPS by month and by team for a year over millions
of responses on PostgreSQL, and the survey answer page. Prints one JSON document (progress to stderr).

    .venv/bin/python bench/feedback_bench.py --responses 5000000 --comments 100000

Responses are loaded with COPY (foreign-key triggers off), then the daily score counts are rebuilt
from them with ``services.rebuild_score_counts`` (the same table the answer page keeps current).
The metric timings are the API's query (``queries.metric``) end to end, median and max of repeats;
one plain GROUP BY over the response table is timed too, to show why the summary table exists.
The answer page is timed in-process through the full middleware stack (Django test client).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Clock, ensure_database, setup_django

WORDS_GOOD = ["great", "friendly", "fast", "helpful", "excellent", "love", "easy", "kind", "quick", "brilliant"]
WORDS_BAD = ["slow", "rude", "broken", "terrible", "late", "confusing", "awful", "expensive", "annoying", "never"]
NOUNS = ["delivery", "agent", "refund", "website", "app", "invoice", "engineer", "phone line", "order", "manager"]


def comments(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 4)):
            words = WORDS_GOOD if rng.random() < 0.55 else WORDS_BAD
            parts.append(
                f"The {rng.choice(NOUNS)} was {rng.choice(['', 'really ', 'very ', 'not '])}{rng.choice(words)}"
            )
        out.append(". ".join(parts) + rng.choice([".", "!", "!!", " :(", " :)"]))
    return out


def bench_sentiment(n: int, clock: Clock) -> dict[str, Any]:
    from rapport.feedback import sentiment

    texts = comments(n)
    sentiment.score("warm up")  # loads the lexicon once, as a worker does at start
    start = time.perf_counter()
    labels = [sentiment.score(t) for t in texts]
    seconds = time.perf_counter() - start
    clock.say(f"sentiment: {n} comments in {seconds:.1f}s")
    return {
        "comments": n,
        "seconds": round(seconds, 2),
        "per_second": round(n / seconds),
        "negative_share": round(sum(1 for s in labels if s and s.label == "negative") / n, 3),
        "mean_chars": round(sum(map(len, texts)) / n, 1),
        "target_seconds": 20,
    }


def load_responses(total: int, clock: Clock) -> dict[str, Any]:
    from django.db import connection

    from rapport.feedback.models import Response, Survey
    from rapport.people.models import Staff, Team

    teams = [Team.objects.get_or_create(name=f"Bench team {i}")[0] for i in range(10)]
    owners = []
    for i in range(50):
        s, _ = Staff.objects.get_or_create(username=f"bench-owner-{i}", defaults={"team": teams[i % 10]})
        owners.append((s.id, teams[i % 10].id))
    surveys = [
        Survey.objects.get_or_create(name=f"Bench {k} {i}", kind=k)[0].id
        for i, k in enumerate(["nps", "nps", "nps", "csat", "ces"])
    ]
    Response.objects.all().delete()
    rng = random.Random(11)
    customer_ids = load_customers(clock)
    start_at = datetime(2025, 1, 1, tzinfo=UTC)
    nps_weights = [3, 2, 2, 3, 3, 5, 6, 10, 18, 22, 26]
    load_start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cols = (
            "source, kind, survey_id, owner_id, team_id, channel, language, score, text, sentiment_label, "
            "keywords, answered_at, customer_id"
        )
        with cursor.copy(f"COPY feedback_response ({cols}) FROM STDIN") as copy:
            buffer: list[str] = []
            for i in range(total):
                sidx = rng.randrange(5)
                kind = ["nps", "nps", "nps", "csat", "ces"][sidx]
                score = (
                    rng.choices(range(11), nps_weights)[0]
                    if kind == "nps"
                    else rng.randint(1, 5)
                    if kind == "csat"
                    else rng.randint(1, 7)
                )
                owner, team = owners[rng.randrange(50)]
                at = start_at + timedelta(seconds=rng.randrange(365 * 86400))
                # One answer in ten comes through a public link (no customer).
                customer = "\\N" if rng.random() < 0.1 else customer_ids[rng.randrange(len(customer_ids))]
                buffer.append(
                    f"survey\t{kind}\t{surveys[sidx]}\t{owner}\t{team}\tweb\ten\t{score}\t\t\t[]\t{at.isoformat()}"
                    f"\t{customer}\n"
                )
                if len(buffer) == 20000:
                    copy.write("".join(buffer))
                    buffer = []
                    if (i + 1) % 1000000 == 0:
                        clock.say(f"loaded {i + 1} responses")
            copy.write("".join(buffer))
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("ANALYZE feedback_response")
    load_s = time.perf_counter() - load_start
    from rapport.feedback import services

    start = time.perf_counter()
    rows = services.rebuild_score_counts()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE feedback_scoredaily")
    rebuild_s = time.perf_counter() - start
    clock.say(f"loaded {total} in {load_s:.0f}s; {rows} daily count rows rebuilt in {rebuild_s:.1f}s")
    return {
        "responses": total,
        "load_seconds": round(load_s, 1),
        "score_daily_rows": rows,
        "rebuild_seconds": round(rebuild_s, 1),
    }


def load_customers(clock: Clock, total: int = 100_000) -> list[int]:
    """Respondents for the status and tag groupings: 70% active, 20% former, 10% prospects;
    each with 0–2 of 10 tags."""
    from rapport.customers.models import Customer, Tag

    rng = random.Random(5)
    tags = [Tag.objects.get_or_create(name=f"bench-tag-{i}")[0] for i in range(10)]
    statuses = ["active"] * 7 + ["former"] * 2 + ["prospect"]
    ids: list[int] = []
    for start in range(0, total, 5000):
        batch = [Customer(name=f"Bench customer {start + i}", status=rng.choice(statuses)) for i in range(5000)]
        ids.extend(c.id for c in Customer.objects.bulk_create(batch))
    through = Customer.tags.through
    links = {(cid, rng.choice(tags).id) for cid in ids for _ in range(rng.randrange(3))}
    through.objects.bulk_create([through(customer_id=c, tag_id=t) for c, t in links], batch_size=10000)
    clock.say(f"{len(ids)} customers, {len(links)} tag links")
    return ids


def timed(fn: Any, repeats: int) -> dict[str, float]:
    fn()  # warm the cache, as a running server is
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2), "repeats": repeats}


def _first_survey() -> int:
    from rapport.feedback.models import Survey

    return Survey.objects.filter(kind="nps").order_by("id").values_list("id", flat=True)[0]


def bench_metrics(clock: Clock) -> dict[str, Any]:
    from django.db import connection

    from rapport.feedback import queries

    year = {"date_from": date(2025, 1, 1), "date_to": date(2025, 12, 31)}
    out = {
        "nps_by_month_year": timed(lambda: queries.metric("nps", group_by="month", **year), 20),
        "nps_by_team_year": timed(lambda: queries.metric("nps", group_by="team", **year), 20),
        "nps_by_owner_year": timed(lambda: queries.metric("nps", group_by="owner", **year), 20),
        "csat_by_month_year": timed(lambda: queries.metric("csat", group_by="month", **year), 20),
        # Not in the daily counts: counted from the responses joined to the customer (and its tags).
        "nps_by_status_year": timed(lambda: queries.metric("nps", group_by="status", **year), 5),
        "nps_by_tag_year": timed(lambda: queries.metric("nps", group_by="tag", **year), 5),
        "nps_by_status_one_survey_month": timed(
            lambda: queries.metric(
                "nps",
                group_by="status",
                survey_id=_first_survey(),
                date_from=date(2025, 6, 1),
                date_to=date(2025, 6, 30),
            ),
            5,
        ),
    }

    def raw() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT date_trunc('month', answered_at), count(*), count(*) FILTER (WHERE score >= 9), "
                "count(*) FILTER (WHERE score <= 6) FROM feedback_response WHERE kind = 'nps' "
                "AND answered_at >= '2025-01-01' AND answered_at < '2026-01-01' GROUP BY 1"
            )
            cursor.fetchall()

    out["raw_group_by_on_responses_for_comparison"] = timed(raw, 3)
    clock.say(f"metrics: {out}")
    return out


def bench_answer_page(n: int, clock: Clock) -> dict[str, Any]:
    from django.test import Client

    from rapport.customers.models import Customer
    from rapport.feedback import services
    from rapport.feedback.models import FeedbackSettings, Survey

    FeedbackSettings.objects.update_or_create(id=1, defaults={"quiet_days": 0})
    survey = Survey.objects.filter(kind="nps").order_by("id").first()
    lead = services.Staff.objects.filter(username="bench-manager").first() or services.Staff.objects.create_user(
        "bench-manager", role="manager"
    )
    if survey is None or survey.current_version() is None:
        survey = services.create_survey(actor=lead, name="Bench answer page", kind="nps")
    customers = [Customer.objects.create(name=f"Bench respondent {i}", consent_email=True) for i in range(n)]
    from rapport.customers.models import ContactPoint

    ContactPoint.objects.bulk_create(
        ContactPoint(customer=c, kind="email", value=f"bench-{c.id}@example.com") for c in customers
    )
    paths = [
        p
        for _, p in services.invite(actor=None, survey_id=survey.id, customer_ids=[c.id for c in customers]).invitations
    ]
    version = survey.current_version()
    score_q, why_q = version.questions.order_by("position")[:2]
    client = Client()
    client.get(paths[0])  # warm: templates compiled, as in a running server
    gets, posts = [], []
    for i, path in enumerate(paths):
        start = time.perf_counter()
        if client.get(path).status_code != 200:
            raise SystemExit(f"GET {path} failed")
        gets.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        r = client.post(
            path, {f"q{score_q.id}": str(i % 11), f"q{why_q.id}": "The delivery was late but the agent was kind."}
        )
        if r.status_code != 200:
            raise SystemExit(f"POST {path} answered {r.status_code}")
        posts.append((time.perf_counter() - start) * 1000)

    def p95(xs: list[float]) -> float:
        return round(sorted(xs)[int(len(xs) * 0.95) - 1], 2)

    out = {
        "links": n,
        "get_p95_ms": p95(gets),
        "get_median_ms": round(statistics.median(gets), 2),
        "post_p95_ms": p95(posts),
        "post_median_ms": round(statistics.median(posts), 2),
        "target_p95_ms": 25,
    }
    clock.say(f"answer page: {out}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, default=5_000_000)
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--links", type=int, default=300)
    parser.add_argument("--db", default="rapport_fb_bench")
    parser.add_argument("--reuse", action="store_true", help="keep the responses already loaded")
    args = parser.parse_args()
    clock = Clock()
    ensure_database(args.db, fresh=not args.reuse)
    setup_django(args.db)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # the pages need the manifest
    result: dict[str, Any] = {"machine": platform.platform(), "python": platform.python_version()}
    result["sentiment"] = bench_sentiment(args.comments, clock)
    if not args.reuse:
        result["load"] = load_responses(args.responses, clock)
    result["metrics"] = bench_metrics(clock)
    result["answer_page"] = bench_answer_page(args.links, clock)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
