"""Reading email defensively: headers that may be broken, bodies in unknown charsets, HTML
that must be made safe, quoted history to set apart. Pure functions, no database."""

from __future__ import annotations

import email
import email.policy
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.utils import getaddresses

import nh3

MAX_DEPTH = 5  # nested message/rfc822 levels we look into; deeper ones are left as they are
MAX_PARTS = 200
TOKEN_RE = re.compile(r"\[C-0*(\d{1,12})\]", re.IGNORECASE)
MSGID_RE = re.compile(r"<[^<>\s]{1,490}>")
QUOTE_START = re.compile(
    r"^(On .{0,300}wrote:|Le .{0,300}a écrit :|Am .{0,300}schrieb .{0,200}:|-{2,}\s*Original Message\s*-{2,}"
    r"|_{10,}|From: .+)\s*$",
    re.IGNORECASE,
)


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def header(msg: Message, name: str) -> str:
    """A header as text; a header the parser cannot decode is read raw rather than crash."""
    try:
        value = msg.get(name)
    except Exception:  # broken encoded-words raise assorted errors
        value = None
        for key, raw_value in msg.raw_items() if hasattr(msg, "raw_items") else []:
            if key.lower() == name.lower():
                value = raw_value
                break
    if value is None:
        return ""
    return " ".join(str(value).split())


def addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    try:
        return [(n, a) for n, a in getaddresses([header(msg, name)]) if a and "@" in a]
    except Exception:
        return []


def message_ids(value: str) -> list[str]:
    return MSGID_RE.findall(value or "")


def part_text(part: Message) -> str:
    """Decoded text of one part; unknown or lying charsets fall back to replacement characters."""
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except Exception:  # noqa: S110 - LookupError, UnicodeDecodeError, malformed encodings: decode below
        pass
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


@dataclass
class Body:
    text: str = ""
    html: str = ""  # sanitised


def body_of(msg: EmailMessage) -> Body:
    try:
        plain = msg.get_body(preferencelist=("plain",))
        rich = msg.get_body(preferencelist=("html",))
    except Exception:
        plain = rich = None
    if plain is None and rich is None and not msg.is_multipart():
        plain = msg
    body = Body()
    if rich is not None:
        body.html = nh3.clean(part_text(rich))
    if plain is not None:
        body.text = part_text(plain)
    elif rich is not None:
        body.text = html_to_text(part_text(rich))
    return body


def html_to_text(markup: str) -> str:
    markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>", "\n", markup)
    text = html.unescape(nh3.clean(markup, tags=set()))
    return "\n".join(line.strip() for line in text.splitlines()).strip()


def split_reply(text: str) -> str:
    """The new text of a reply: everything above the quoted history."""
    kept: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(">") or QUOTE_START.match(stripped):
            break
        kept.append(line)
    new = "\n".join(kept).strip()
    return new or text.strip()


@dataclass
class FilePart:
    filename: str
    content_type: str
    payload: bytes


@dataclass
class Walk:
    files: list[FilePart] = field(default_factory=list)
    too_deep: bool = False
    too_many: bool = False


def _children(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def walk_files(msg: Message) -> Walk:
    """Attachments, looking into nested messages only MAX_DEPTH levels down and MAX_PARTS parts
    in all (a 20-level nest or a part bomb costs us nothing). Zip files are never unpacked."""
    result = Walk()
    seen = 0

    def visit(part: Message, depth: int) -> Iterator[None]:
        nonlocal seen
        seen += 1
        if seen > MAX_PARTS:
            result.too_many = True
            return
        children = _children(part)
        if children:
            if depth >= MAX_DEPTH:
                result.too_deep = True
                return
            for child in children:
                yield from visit(child, depth + 1)
            return
        disposition = (part.get_content_disposition() or "").lower()
        filename = _filename(part)
        if (
            disposition == "attachment"
            or (filename and disposition != "inline")
            or (disposition == "inline" and filename and part.get_content_maintype() != "text")
        ):
            data = part.get_payload(decode=True)
            result.files.append(
                FilePart(filename or "attachment", part.get_content_type(), data if isinstance(data, bytes) else b"")
            )
        yield None

    for _ in visit(msg, 0):
        pass
    return result


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        name = ""
    return "".join(ch for ch in name if ch.isprintable() and ch not in "/\\")[:200]


def dsn_failed_recipients(msg: Message) -> list[str]:
    """Addresses a delivery status notification reports as failed (RFC 3464)."""
    failed: list[str] = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in _children(part):
            action = header(block, "Action").lower()
            recipient = header(block, "Final-Recipient") or header(block, "Original-Recipient")
            if recipient and (not action or action == "failed"):
                failed.append(recipient.split(";", 1)[-1].strip().strip("<>").lower())
        if not _children(part):  # some parsers leave the fields as text
            text = part_text(part)
            if re.search(r"(?im)^Action:\s*failed", text):
                failed += [m.lower() for m in re.findall(r"(?im)^Final-Recipient:\s*[^;]*;\s*<?([^>\s]+)>?", text)]
    return failed
