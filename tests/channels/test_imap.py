"""IMAP polling logic. No IMAP server runs here, so the mailbox is a stand-in at the edge of
the world (the imapclient calls we make: search, fetch, add_flags); the pipeline is real."""

from __future__ import annotations

from typing import Any

import pytest

from rapport.cases.models import Case
from rapport.channels import imap, inbound
from rapport.channels.models import Channel, InboundMessage
from tests.channels.conftest import email

pytestmark = pytest.mark.django_db


class Mailbox:
    def __init__(self, messages: dict[int, bytes]) -> None:
        self.messages = messages
        self.flags: dict[int, set[bytes]] = {uid: set() for uid in messages}

    def search(self, criteria: Any) -> list[int]:
        assert criteria == ["NOT", "KEYWORD", "$RapportTaken"]
        return [uid for uid, flags in self.flags.items() if imap.TAKEN not in flags]

    def fetch(self, uids: list[int], data: list[bytes | str]) -> dict[int, dict[bytes, Any]]:
        assert data == [b"BODY.PEEK[]"]  # PEEK: fetching alone does not mark it read
        return {uid: {b"BODY[]": self.messages[uid]} for uid in uids}

    def add_flags(self, uids: list[int], flags: list[bytes]) -> None:
        for uid in uids:
            self.flags[uid].update(flags)


def test_new_mail_is_taken_once_and_flagged(channel: tuple[Channel, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inbound, "MAX_RAW_BYTES", 10_000)
    mailbox = Mailbox({1: email(subject="One").as_bytes(), 2: b"x" * 20_000, 3: email(subject="Three").as_bytes()})
    outcomes = imap.take(mailbox, channel[0])
    assert [o.status for o in outcomes] == ["received", "received"]  # the oversized one did not stop the batch
    assert inbound.drain() == 2
    assert mailbox.flags[1] == {b"\\Seen", imap.TAKEN} and mailbox.flags[2] == set()
    assert imap.take(mailbox, channel[0]) == []  # message 2 is still refused and stays for a person
    mailbox.flags[1].clear()  # someone unflagged it: the pipeline's idempotency still takes it once
    assert imap.take(mailbox, channel[0])[0].duplicate
    assert Case.objects.count() == 2 and InboundMessage.objects.count() == 2


def test_no_imap_url_means_no_polling(settings: Any) -> None:
    settings.IMAP_URL = ""
    assert imap.poll_configured() == 0
