"""Build a benchmark database: staff, customers with contact points and tags, and a skewed
contact timeline, loaded with COPY.

    .venv/bin/python bench/generate.py --db rapport_bench                 # 1M customers, 10M contacts
    .venv/bin/python bench/generate.py --db bench_small --customers 10000 --interactions 100000 --fresh

Runs ``migrate`` first. Foreign-key triggers are off for the load (``session_replication_role
= replica``, superuser only: the generator writes consistent rows) and the timeline's
secondary indexes are dropped during the load and rebuilt afterwards, which is several times
faster than maintaining them row by row. Ends with VACUUM ANALYZE.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Clock, ensure_database, setup_django
from names import COMPANY_WORDS, FIRST, LAST, SUMMARIES, TAGS

BENCH_USER = "bench"
BENCH_PASSWORD = "bench-password-not-a-secret"  # noqa: S105 - a throwaway benchmark database
DOMAINS = ["example.com", "mail.example.org", "post.example.net", "inbox.example.co.uk", "example.io"]
BATCH = 200_000


def _copy_lines(table: str, columns: str, lines: Iterator[str], clock: Clock, label: str) -> int:
    from django.db import connection

    count = 0
    buffer: list[str] = []
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for line in lines:
            buffer.append(line)
            if len(buffer) == 50_000:
                copy.write("".join(buffer))
                count += len(buffer)
                buffer.clear()
                if count % 1_000_000 == 0:
                    clock.say(f"{label}: {count:,}")
        copy.write("".join(buffer))
        count += len(buffer)
    clock.say(f"{label}: {count:,} rows")
    return count


def make_staff(count: int) -> list[int]:
    from rapport.people.models import Role, Staff

    Staff.objects.exclude(username=BENCH_USER).filter(username__startswith="staff").delete()
    people = [
        Staff(username=f"staff{i:03d}", first_name=random.choice(FIRST), last_name=random.choice(LAST), role=Role.AGENT)
        for i in range(1, count + 1)
    ]
    for person in people:
        person.set_unusable_password()
    Staff.objects.bulk_create(people)
    admin, _ = Staff.objects.get_or_create(username=BENCH_USER, defaults={"role": Role.ADMIN, "first_name": "Bench"})
    admin.set_password(BENCH_PASSWORD)
    admin.save()
    return list(Staff.objects.filter(username__startswith="staff").values_list("id", flat=True))


def customer_rows(
    n: int, staff_ids: list[int], tag_ids: list[int]
) -> Iterator[tuple[str, list[str], list[str], list[int]]]:
    """(customer COPY line, emails, phones, tag ids) per customer, id i = 1..n."""
    from rapport.customers.services import name_keys  # noqa: F401 - imported for the caller

    now = datetime.now(UTC).isoformat()
    statuses = ["active"] * 12 + ["prospect"] * 5 + ["former"] * 3
    channels = ["", "", "", "email", "phone", "letter", "sms"]
    rnd = random.random
    for i in range(1, n + 1):
        first, last = random.choice(FIRST), random.choice(LAST)
        if rnd() < 0.05:
            name, kind = f"{random.choice(COMPANY_WORDS)} {last} Ltd", "organisation"
        else:
            name, kind = f"{first} {last}", "person"
        local = f"{first}.{last}".lower().replace("'", "")
        emails = [f"{local}{i}@{DOMAINS[i % len(DOMAINS)]}"]
        if rnd() < 0.3:
            emails.append(f"{first[0].lower()}{last.lower().replace("'", '')}{i}@work.example.com")
        r = rnd()
        phones = [] if r < 0.3 else [f"+4479{i:08d}"] if r < 0.8 else [f"+4479{i:08d}", f"+44207{i % 10_000_000:07d}"]
        manager = str(random.choice(staff_ids)) if rnd() < 0.1 else "\\N"
        external = f"EXT{i}" if rnd() < 0.5 else "\\N"
        r = rnd()
        tags = [] if r < 0.6 else random.sample(tag_ids, 1 if r < 0.9 else 2)
        consent = "\t".join("t" if rnd() < 0.5 else "f" for _ in range(4))
        line = (
            f"{i}\t{kind}\t{name}\t{random.choice(statuses)}\t{manager}\t{external}\t{random.choice(channels)}\ten\t"
            f"Europe/London\t{consent}\t\t\\N\t{now}\t{now}\t1\n"
        )
        yield line, emails, phones, tags


CUSTOMER_COLUMNS = (
    "id, kind, name, status, account_manager_id, external_id, preferred_channel, language, timezone, "
    "consent_email, consent_phone, consent_post, consent_marketing, notes, merged_into_id, "
    "created_at, updated_at, version"
)


def load_customers(n: int, staff_ids: list[int], clock: Clock) -> None:
    from rapport.customers.models import Tag
    from rapport.customers.services import name_keys

    tag_ids = [Tag.objects.get_or_create(name=name)[0].id for name in TAGS]
    contacts: list[str] = []
    keys: list[str] = []
    tag_lines: list[str] = []
    now = datetime.now(UTC).isoformat()

    def customers() -> Iterator[str]:
        for i, (line, emails, phones, tags) in enumerate(customer_rows(n, staff_ids, tag_ids), 1):
            for index, email in enumerate(emails):
                contacts.append(f"{i}\temail\t{email}\t\t{'t' if index == 0 else 'f'}\tf\t{now}\n")
            for index, phone in enumerate(phones):
                contacts.append(f"{i}\tphone\t{phone}\t\t{'t' if index == 0 else 'f'}\tf\t{now}\n")
            name = line.split("\t", 3)[2]
            keys.extend(f"{i}\t{key}\n" for key in name_keys(name))
            tag_lines.extend(f"{i}\t{t}\n" for t in tags)
            yield line

    _copy_lines("customers_customer", CUSTOMER_COLUMNS, customers(), clock, "customers")
    _copy_lines(
        "customers_contactpoint",
        "customer_id, kind, value, label, is_primary, bouncing, created_at",
        iter(contacts),
        clock,
        "contact points",
    )
    _copy_lines("customers_namekey", "customer_id, key", iter(keys), clock, "name keys")
    _copy_lines("customers_customer_tags", "customer_id, tag_id", iter(tag_lines), clock, "customer tags")


def interaction_lines(count: int, customers: int, staff_ids: list[int]) -> Iterator[str]:
    """Skewed: customer = N * u^2, so a few customers have thousands of contacts, most a few."""
    import numpy as np

    rng = np.random.default_rng(7)
    start = datetime.now(UTC) - timedelta(days=3 * 365)
    stamps = [
        (start + timedelta(seconds=int(s))).isoformat() for s in sorted(rng.integers(0, 3 * 365 * 86400, 200_000))
    ]
    channels = ["phone", "email", "email", "email", "letter", "meeting", "chat", "sms", "portal", "web"]
    bodies = [
        "",
        "",
        "",
        "Customer was happy with the answer.",
        "Promised a call back tomorrow.",
        "Sent the form by email.",
    ]
    staff = [str(s) for s in staff_ids] + ["\\N"] * 10
    done = 0
    while done < count:
        size = min(BATCH, count - done)
        who = (customers * rng.random(size) ** 2).astype(np.int64) + 1
        when = rng.integers(0, len(stamps), size)
        what = rng.integers(0, len(SUMMARIES), size)
        how = rng.integers(0, len(channels), size)
        body = rng.integers(0, len(bodies), size)
        by = rng.integers(0, len(staff), size)
        inbound = rng.random(size) < 0.6
        for c, w, s, h, b, st, inb in zip(
            who.tolist(),
            when.tolist(),
            what.tolist(),
            how.tolist(),
            body.tolist(),
            by.tolist(),
            inbound.tolist(),
            strict=True,
        ):
            channel = channels[h]
            stamp = stamps[w]
            duration = str(60 + s * 17) if channel == "phone" else "\\N"
            yield (
                f"{c}\t{channel}\t{'in' if inb else 'out'}\t{stamp}\t{SUMMARIES[s]}\t{bodies[b]}\t{staff[st]}\t"
                f"{duration}\t\t\\N\t{stamp}\n"
            )
        done += size


def load_interactions(count: int, customers: int, staff_ids: list[int], clock: Clock) -> None:
    from django.db import connection

    table = "customers_interaction"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
            [table, table],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    clock.say(f"dropped {len(indexes)} timeline indexes for the load")
    _copy_lines(
        table,
        "customer_id, channel, direction, occurred_at, summary, body, staff_id, duration_seconds, "
        "source_type, source_id, created_at",
        interaction_lines(count, customers, staff_ids),
        clock,
        "timeline entries",
    )
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 2")
        for name, definition in indexes:
            cursor.execute(definition)
            clock.say(f"rebuilt index {name}")


def prepare_empty_database(db: str, fresh: bool, clock: Clock) -> None:
    """Migrate an empty bench database and set this session up for bulk loading (no FK triggers)."""
    ensure_database(db, fresh=fresh)
    setup_django(db)
    from django.core.management import call_command
    from django.db import connection

    from rapport.customers.models import Customer

    call_command("migrate", verbosity=0)
    clock.say("migrated")
    if Customer.objects.exists():
        sys.exit(f"{db} already has customers; use --fresh to rebuild it.")
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # no FK triggers during the load
        cursor.execute("SET synchronous_commit = off")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="rapport_bench")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--interactions", type=int, default=10_000_000)
    parser.add_argument("--staff", type=int, default=50)
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database first")
    args = parser.parse_args()
    random.seed(42)
    clock = Clock()
    prepare_empty_database(args.db, args.fresh, clock)
    from django.db import connection

    staff_ids = make_staff(args.staff)
    load_customers(args.customers, staff_ids, clock)
    load_interactions(args.interactions, args.customers, staff_ids, clock)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = origin")
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('customers_customer', 'id'), "
            "(SELECT max(id) FROM customers_customer))"
        )
        cursor.execute("VACUUM ANALYZE")
    clock.say("vacuum analyze done")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = cursor.fetchone()[0]  # type: ignore[index]
    print(
        json.dumps(
            {
                "db": args.db,
                "customers": args.customers,
                "interactions": args.interactions,
                "staff": args.staff + 1,
                "size": size,
            }
        )
    )


if __name__ == "__main__":
    main()
