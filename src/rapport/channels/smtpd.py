"""A local SMTP listener (aiosmtpd) for small installs: mail for a configured channel address
goes into the inbound pipeline; any other recipient is refused with 550.

aiosmtpd runs an asyncio loop; the ORM is synchronous, so every database step runs in a
worker thread (each with its own connection, closed afterwards)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller
from django.db import close_old_connections, connections

from rapport.channels import inbound
from rapport.channels.models import Channel

log = logging.getLogger(__name__)


def _in_thread(fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        close_old_connections()
        try:
            return fn()
        finally:
            connections.close_all()

    return run


class Handler:
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        address = address.strip().lower()
        known = await asyncio.get_running_loop().run_in_executor(
            None, _in_thread(lambda: Channel.objects.filter(address=address, active=True).exists())
        )
        if not known:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content

        def deliver() -> str:
            for channel in Channel.objects.filter(address__in=envelope.rcpt_tos, active=True):
                inbound.receive(raw, channel=channel, source="smtp")  # the second recipient is a duplicate
            return "250 Message accepted"

        try:
            return await asyncio.get_running_loop().run_in_executor(None, _in_thread(deliver))
        except Exception:  # storage failed: ask the client to retry, never lose mail
            log.exception("could not store an inbound SMTP message")
            return "451 4.3.0 Temporary failure, try again later"


def controller(host: str = "127.0.0.1", port: int = 2525) -> Controller:
    return Controller(
        Handler(),
        hostname=host,
        port=port,
        data_size_limit=inbound.MAX_RAW_BYTES,
        decode_data=False,
        server_hostname="rapport",
    )
