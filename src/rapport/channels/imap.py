"""IMAP polling: fetch unseen mail, hand each message to the inbound pipeline, then flag it
as taken (\\Seen plus our own keyword) so the next poll skips it.

The message is flagged only after its raw bytes are stored; a crash in between means the
next poll fetches it again and the pipeline's idempotency (Message-ID / content hash) takes
it once. Configured by ``IMAP_URL``: imaps://user:password@host:993/INBOX?channel=care@example.com
"""

from __future__ import annotations

import logging
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from django.conf import settings

from rapport.channels import inbound
from rapport.channels.models import Channel

log = logging.getLogger(__name__)
TAKEN = b"$RapportTaken"
BATCH = 50


class Mailbox(Protocol):
    def search(self, criteria: Any) -> list[int]: ...
    def fetch(self, messages: list[int], data: list[bytes | str]) -> dict[int, dict[bytes, Any]]: ...
    def add_flags(self, messages: list[int], flags: list[bytes]) -> Any: ...


def take(mailbox: Mailbox, channel: Channel | None) -> list[inbound.Outcome]:
    """Take every message not yet taken. One bad message never stops the rest."""
    uids = mailbox.search(["NOT", "KEYWORD", TAKEN.decode()])
    outcomes: list[inbound.Outcome] = []
    for start in range(0, len(uids), BATCH):
        chunk = uids[start : start + BATCH]
        for uid, data in mailbox.fetch(chunk, [b"BODY.PEEK[]"]).items():
            raw = data.get(b"BODY[]") or b""
            try:
                outcomes.append(inbound.receive(raw, channel=channel, source="imap"))
            except Exception:  # e.g. over the size limit: leave it unflagged for a person
                log.exception("IMAP message %s not taken", uid)
                continue
            mailbox.add_flags([uid], [b"\\Seen", TAKEN])
    return outcomes


def poll_configured() -> int:
    url = getattr(settings, "IMAP_URL", "")
    if not url:
        return 0
    from imapclient import IMAPClient

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    channel = Channel.objects.filter(address=(query.get("channel") or [""])[0].lower(), active=True).first()
    with IMAPClient(parts.hostname or "localhost", port=parts.port, ssl=parts.scheme == "imaps", timeout=60) as client:
        client.login(unquote(parts.username or ""), unquote(parts.password or ""))
        client.select_folder(unquote(parts.path.lstrip("/")) or "INBOX")
        return len(take(client, channel))
