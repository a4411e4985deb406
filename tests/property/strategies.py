"""Hypothesis strategies for hostile input: broken mail, malformed calendars, odd strings.

The builders make input that is *almost* right, because that is what reaches the deepest
code: real header names with broken values, real charsets declared over bytes in another
one, multiparts whose boundaries lie, calendars with one bad line. Sizes stay small so a
run of a few hundred examples takes seconds.
"""

from __future__ import annotations

import base64
import json
import quopri
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st

from handlers.calls import GENERIC_CALLS, TWILIO_CALLS
from handlers.marketing import HUBSPOT_WEBHOOK, MARKETING_WEBHOOK

FORM = "application/x-www-form-urlencoded"
INTERNAL = "acme-analytics.example"
REP_EMAIL = f"dana.whitfield@{INTERNAL}"

# --- strings ------------------------------------------------------------------------------------

HOSTILE_TOKENS = (
    "<!channel>", "<!here>", "<!everyone>", "<!subteam^S123>", "<@U123>", "<@W0AB12CD>",
    "<#C123|general>", "<https://evil.example|click me>", "<http://x>", "<mailto:a@b.c|m>",
    "&", "&amp;", "&lt;!channel&gt;", "<", ">", "<<!channel>>", "*bold*", "_it_", "`code`",
    "\x00", "\u202e", "\u200b", "\ufeff", "\r\n", "\n", "\t", "🔥", "Ünïcødé", "日本語",
    "'; DROP TABLE contact;--", "%s%n", "${jndi:ldap://x}", "=?utf-8?q?=3C!channel=3E?=",
    "\\u0000", "\\ud800", "null", "undefined", "-1", "1e309", " ", "",
)  # fmt: skip


def hostile_text(*, max_size: int = 60) -> st.SearchStrategy[str]:
    """Text mixing Slack markup, control characters, odd unicode and plain words."""
    piece = st.one_of(
        st.sampled_from(HOSTILE_TOKENS),
        st.text(max_size=12),
        st.text(alphabet="<>!@#&|:/^ abcUWC0123", max_size=12),
    )
    return st.lists(piece, max_size=6).map("".join).map(lambda text: text[:max_size])


def huge_text() -> st.SearchStrategy[str]:
    """A long string built cheaply (hypothesis need not draw every character)."""
    return st.builds(
        lambda token, n: token * max(1, n // len(token)),
        st.sampled_from(("x", "<!channel> ", "é", "&", "🔥", "a b ")),
        st.integers(min_value=1_000, max_value=40_000),
    )


# --- charsets -----------------------------------------------------------------------------------

REAL_CHARSETS = (
    "utf-8", "us-ascii", "iso-8859-1", "iso-8859-15", "windows-1252", "koi8-r", "shift_jis",
    "euc-jp", "iso-2022-jp", "gb2312", "gbk", "big5", "utf-16", "utf-16le", "utf-7", "cp437",
    "latin-1", "utf-8-sig", "windows-1251", "iso-8859-7",
)  # fmt: skip
BOGUS_CHARSETS = (
    "x-unknown", "utf-9", "", '"utf-8"', "'latin1'", "unicode-1-1-utf-7", "rot13", "hex",
    "base64", "zlib", "idna", "punycode", "undefined", "unicode_escape", "raw_unicode_escape",
    "charmap", "ks_c_5601-1987", "x-mac-roman", "utf-8\x00", "\xff\xfe", "ut f-8", "a" * 300,
)  # fmt: skip
CHARSETS = REAL_CHARSETS + BOGUS_CHARSETS


def encode_as(text: str, charset: str) -> bytes:
    """The text in a real charset, with what it cannot hold replaced."""
    return text.encode(charset, "replace")


def declared(charset: str) -> bytes:
    """A charset name as it appears in a header (it may hold anything)."""
    return charset.encode("utf-8", "surrogatepass")


# --- RFC 5322 header values ---------------------------------------------------------------------

CRLF = b"\r\n"
DOMAINS = ("globex.example", "initech.example", INTERNAL, f"sales.{INTERNAL}", "gmail.com")


@st.composite
def addresses(draw: st.DrawFn) -> bytes:
    """One mailbox, well formed or not."""
    local = draw(st.sampled_from(("ana", "bob.smith", "x+tag", "", "a b", '"q@x"', "ünï")))
    domain = draw(st.sampled_from((*DOMAINS, "", "no-dot", "[127.0.0.1]", "a@b")))
    address = f"{local}@{domain}".encode("utf-8", "replace")
    name = draw(st.one_of(st.just(b""), encoded_words(), raw_text_bytes(max_size=30)))
    shape = draw(st.sampled_from(("bare", "angle", "quoted", "broken", "group", "no-at")))
    if shape == "bare":
        return address
    if shape == "angle":
        return name + b" <" + address + b">"
    if shape == "quoted":
        return b'"' + name + b'" <' + address + b">"
    if shape == "group":
        return b"Team: " + address + b", " + address + b";"
    if shape == "no-at":
        return name + b" <" + local.encode("utf-8", "replace") + b">"
    return name + b" <" + address  # unterminated


@st.composite
def outside_sender(draw: st.DrawFn) -> bytes:
    """A readable outside mailbox, its display name in any shape."""
    name = draw(st.one_of(st.just(b"Ana Silva"), encoded_words(), raw_text_bytes(max_size=30)))
    local = draw(st.sampled_from((b"ana", b"bo.chen", b"x+y")))
    domain = draw(st.sampled_from((b"globex.example", b"initech.example", b"gmail.com")))
    return b'"' + name.replace(b'"', b"") + b'" <' + local + b"@" + domain + b">"


@st.composite
def address_list(draw: st.DrawFn) -> bytes:
    """Zero to a few mailboxes, comma separated."""
    return b", ".join(draw(st.lists(addresses(), max_size=4)))


def raw_text_bytes(*, max_size: int = 40) -> st.SearchStrategy[bytes]:
    """Header or body text in some real charset, or arbitrary bytes."""
    return st.one_of(
        st.builds(encode_as, hostile_text(max_size=max_size), st.sampled_from(REAL_CHARSETS)),
        st.binary(max_size=max_size),
    )


@st.composite
def encoded_words(draw: st.DrawFn) -> bytes:
    """RFC 2047 encoded words, often with a charset that does not match the bytes."""
    words = []
    for _ in range(draw(st.integers(1, 3))):
        text = draw(hostile_text(max_size=30))
        real = draw(st.sampled_from(REAL_CHARSETS))
        data = encode_as(text, real)
        charset = draw(st.one_of(st.just(real), st.sampled_from(CHARSETS)))
        encoding = draw(st.sampled_from(("q", "b", "Q", "B", "x", "")))
        if encoding.lower() == "b":
            payload = base64.b64encode(data)
            if draw(st.booleans()):
                payload = payload[: draw(st.integers(0, len(payload)))] + b"!*"
        else:
            payload = quopri.encodestring(data, header=True).replace(b"=\n", b"")
            if draw(st.booleans()):
                payload += draw(st.sampled_from((b"=", b"=Z", b"=\xff", b"?", b" ")))
        words.append(b"=?" + declared(charset) + b"?" + encoding.encode() + b"?" + payload + b"?=")
    gap = draw(st.sampled_from((b" ", b"", b"\r\n ", b" x ", b" \\ud800 ", b" \\u00e9 ")))
    return gap.join(words)


def _date_text(moment: datetime) -> bytes:
    return format_datetime(moment).encode()


GOOD_DATE = b"Tue, 2 Jan 2024 10:00:00 +0100"
DATES = st.one_of(
    st.just(GOOD_DATE),
    st.builds(
        _date_text,
        st.datetimes(
            min_value=datetime(1970, 1, 2),
            max_value=datetime(2200, 1, 1),
            timezones=st.sampled_from(
                (UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12, minutes=30)))
            ),
        ),
    ),
    st.sampled_from(
        (
            b"Tue, 2 Jan 2024 10:00:00 +0100", b"garbage", b"", b"Mon, 32 Foo 99999 25:61:61 +9999",
            b"Fri, 31 Dec 9999 23:59:59 -2359", b"Mon, 1 Jan 0001 00:00:00 +0000", b"1700000000",
            b"2024-01-02T10:00:00Z", b"Tue, 2 Jan 2024 10:00:00", b"Tue, 2 Jan 24 10:00 EST",
            b"Tue, 2 Jan 2024 10:00:00 +99999999999999999999", b"\x00", b"Tue,,, 2 2 2",
        )
    ),
    raw_text_bytes(max_size=30),
)  # fmt: skip

MESSAGE_IDS = st.one_of(
    st.builds(lambda n: b"<m-%d@globex.example>" % n, st.integers(0, 10**6)),
    st.sampled_from(
        (
            b"", b"<>", b"<<>>", b"no-angles@x", b"<a@b> <c@d>", b"<a\x00b@x>", b"<\xff\xfe@x>",
            b"<" + b"x" * 600 + b"@globex.example>", b"<" + b"y" * 499 + b">", b"<a b@c>",
        )
    ),
    raw_text_bytes(max_size=40),
)  # fmt: skip

SKIP_HEADERS = (
    b"Auto-Submitted: auto-replied", b"Auto-Submitted: no", b"Precedence: bulk",
    b"Precedence: list", b"List-Unsubscribe: <mailto:u@x>", b"List-Id: <l.x>", b"X-Autoreply: yes",
)  # fmt: skip


@st.composite
def header_block(draw: st.DrawFn) -> list[bytes]:
    """Top-level header lines, each of Message-ID, Date and From missing, once or twice."""
    lines: list[bytes] = []

    def some(name: bytes, values: st.SearchStrategy[bytes]) -> None:
        for _ in range(draw(st.sampled_from((1, 1, 1, 1, 1, 1, 0, 2)))):
            lines.append(name + b": " + draw(values))

    some(b"Message-ID", MESSAGE_IDS)
    some(b"Date", st.one_of(st.just(GOOD_DATE), st.just(GOOD_DATE), DATES))
    some(b"From", st.one_of(outside_sender(), outside_sender(), outside_sender(), address_list()))
    some(b"To", st.one_of(st.just(REP_EMAIL.encode()), address_list()))
    some(b"Cc", address_list())
    some(b"Subject", st.one_of(encoded_words(), raw_text_bytes(), st.just(b"")))
    some(b"In-Reply-To", MESSAGE_IDS)
    some(b"References", st.builds(b" ".join, st.lists(MESSAGE_IDS, max_size=3)))
    if draw(st.booleans()):
        lines.append(b"Received: from x by y; " + draw(DATES))
    lines.extend(draw(st.lists(st.sampled_from(SKIP_HEADERS), max_size=2)))
    junk = st.one_of(
        st.builds(lambda n, v: n + b": " + v, st.sampled_from((b"X-Junk", b"Sender")), DATES),
        st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
        st.just(b"no colon here"),
        st.just(b": empty name"),
        st.just(b" continuation without a header"),
    )
    if draw(st.integers(0, 3)) == 0:
        lines.extend(draw(st.lists(junk, max_size=2)))
    return list(draw(st.permutations(lines)))


# --- MIME bodies --------------------------------------------------------------------------------

TRANSFER_ENCODINGS = ("", "7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode",
                      "BASE64 ", "garbage")  # fmt: skip


def _transfer(draw: st.DrawFn, data: bytes) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding header or b"", encoded data), sometimes wrongly encoded."""
    encoding = draw(st.sampled_from(TRANSFER_ENCODINGS))
    header = b"Content-Transfer-Encoding: " + encoding.encode() + CRLF if encoding else b""
    if encoding.strip().lower() == "base64":
        data = base64.encodebytes(data)
        damage = draw(st.sampled_from(("none", "cut", "junk", "padding")))
        if damage == "cut":
            data = data[: draw(st.integers(0, len(data)))]
        elif damage == "junk":
            data = b"!!" + data + b"\xff==="
        elif damage == "padding":
            data = data.rstrip(b"=\n") + b"=\n"
    elif encoding == "quoted-printable":
        data = quopri.encodestring(data)
        if draw(st.booleans()):
            data += draw(st.sampled_from((b"=", b"=ZZ", b"=\r", b"=0", b"= \r\n")))
    return header, data


@st.composite
def leaf_part(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(content headers, body) of a non-multipart part."""
    kind = draw(st.sampled_from(("text", "text", "html", "calendar", "attachment", "binary")))
    charset = draw(st.sampled_from(CHARSETS))
    if kind in ("text", "html"):
        text = draw(hostile_text(max_size=120))
        if kind == "html":
            text = draw(st.sampled_from(("<p>{}</p>", "<html><body>{}", "<!{}>", "<b>{}"))).format(
                text
            )
        data = encode_as(text, draw(st.sampled_from(REAL_CHARSETS)))
        subtype = b"html" if kind == "html" else b"plain"
        params = b"; charset=" + declared(charset) if draw(st.booleans()) else b""
        content_type = b"Content-Type: text/" + subtype + params + CRLF
    elif kind == "calendar":
        data = draw(broken_calendars())
        method = draw(st.sampled_from((b"", b"; method=REQUEST", b"; method=CANCEL")))
        content_type = b"Content-Type: text/calendar" + method + CRLF
    elif kind == "attachment":
        data = draw(st.binary(max_size=200))
        name = draw(st.one_of(encoded_words(), raw_text_bytes(max_size=20)))
        content_type = (
            b"Content-Type: application/octet-stream\r\n"
            b'Content-Disposition: attachment; filename="' + name + b'"' + CRLF
        )
    else:
        data = draw(st.binary(max_size=200))
        content_type = draw(
            st.sampled_from((b"Content-Type: garbage\r\n", b"Content-Type: /\r\n", b""))
        )
    transfer, data = _transfer(draw, data)
    return content_type + transfer, data


@st.composite
def multipart(draw: st.DrawFn, depth: int = 0) -> tuple[bytes, bytes]:
    """(content headers, body) of a multipart whose boundaries may lie."""
    declared_boundary = draw(st.sampled_from((b"b1", b"==b 2==", b"", b'"', b"x" * 90)))
    used = draw(
        st.sampled_from((declared_boundary, declared_boundary, b"other", b"b1", b"", b"--"))
    )
    subtype = draw(st.sampled_from((b"mixed", b"alternative", b"related", b"report", b"x")))
    header = b"Content-Type: multipart/" + subtype
    if draw(st.integers(0, 4)):
        header += b'; boundary="' + declared_boundary + b'"'
    children = []
    for _ in range(draw(st.integers(0, 3))):
        if depth < 2 and draw(st.integers(0, 3)) == 0:
            child = draw(multipart(depth + 1))
        else:
            child = draw(leaf_part())
        children.append(child[0] + CRLF + child[1])
    preamble = draw(st.sampled_from((b"", b"This is a multi-part message.\r\n", b"--\r\n")))
    body = preamble
    for part in children:
        body += b"--" + used + CRLF + part + CRLF
        if draw(st.integers(0, 5)) == 0:  # a duplicated boundary line
            body += b"--" + used + CRLF
    if draw(st.integers(0, 3)):
        body += b"--" + used + b"--" + CRLF
    body += draw(st.sampled_from((b"", b"epilogue\r\n", b"--" + used + b"--\r\n")))
    transfer = draw(st.sampled_from((b"", b"Content-Transfer-Encoding: base64\r\n")))
    return header + CRLF + transfer, body


@st.composite
def broken_mail(draw: st.DrawFn) -> bytes:
    """A realistic-but-broken RFC 5322 message."""
    headers = draw(header_block())
    if draw(st.booleans()):
        headers.append(b"MIME-Version: 1.0")
    content, body = draw(st.one_of(leaf_part(), multipart()))
    raw = CRLF.join(headers) + CRLF + content + CRLF + body
    for _ in range(draw(st.sampled_from((0, 0, 0, 1, 2)))):
        raw = draw(_mutation(raw))
    return raw


@st.composite
def _mutation(draw: st.DrawFn, raw: bytes) -> bytes:
    """One whole-message accident: NULs, a very long line, a cut, other line ends, junk."""
    position = draw(st.integers(0, len(raw)))
    how = draw(
        st.sampled_from(("nul", "long", "cut", "lf", "cr", "flip", "leading", "mbox", "8bit"))
    )
    if how == "nul":
        return raw[:position] + b"\x00" * draw(st.integers(1, 3)) + raw[position:]
    if how == "long":
        line = draw(st.sampled_from((b"x", b"a ", b"=", b"\xe9", b"<"))) * draw(
            st.integers(1_000, 4_000)  # longer: test_a_long_address_header_is_read_in_linear_time
        )
        return raw[:position] + line + raw[position:]
    if how == "cut":
        return raw[:position]
    if how == "lf":
        return raw.replace(b"\r\n", b"\n")
    if how == "cr":
        return raw.replace(b"\r\n", b"\r")
    if how == "flip" and raw:
        index = min(position, len(raw) - 1)
        return raw[:index] + bytes([raw[index] ^ draw(st.integers(1, 255))]) + raw[index + 1 :]
    if how == "leading":
        return b"\r\n \t" + raw
    if how == "mbox":
        return b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\r\n" + raw
    return (
        raw[:position] + bytes(draw(st.lists(st.integers(0x80, 0xFF), max_size=8))) + raw[position:]
    )


def any_mail() -> st.SearchStrategy[bytes]:
    """Broken mail most of the time, sometimes plain random bytes."""
    return st.one_of(*[broken_mail()] * 5, st.binary(max_size=300))


def good_mail(message_id: str, sender: str, *, subject: str = "Pilot", body: str = "Hi") -> bytes:
    """A clean message from an outside sender to the rep, ASCII only."""
    return (
        f"Message-ID: <{message_id}>\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\n"
        f"From: Ana Silva <{sender}>\r\nTo: Dana Whitfield <{REP_EMAIL}>\r\n"
        f"Subject: {subject}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


# --- iCalendar ----------------------------------------------------------------------------------

TZIDS = ("Europe/Paris", "America/New_York", "W. Europe Standard Time", "Mars/Olympus",
         "", "UTC", "Etc/GMT+14", "../../etc/passwd", "Europe/Paris\x00", "\xff")  # fmt: skip
METHODS = ("REQUEST", "CANCEL", "REPLY", "PUBLISH", "COUNTER", "REFRESH", "DESTROY", "",
           "request", "X-ODD", "REQUEST;X=1")  # fmt: skip
DTVALUES = ("20261124T150000Z", "20261124T150000", "20261124", "2026-11-24T15:00:00Z",
            "20261324T256100Z", "99991231T235959Z", "00010101T000000Z", "garbage", "", "0",
            "20261124T150000Z,20261125T150000Z")  # fmt: skip


def _event_line(name: str, value: str) -> str:
    return f"{name}:{value}"


@st.composite
def event_lines(draw: st.DrawFn, *, uid: str | None = None) -> list[str]:
    """The property lines of one VEVENT, any of them broken, in random order."""
    lines: list[str] = []
    if uid is not None:
        lines.append(f"UID:{uid}")
    elif draw(st.integers(0, 5)):
        lines.append(
            "UID:"
            + draw(
                st.one_of(
                    st.builds(lambda n: f"u-{n}", st.integers(0, 10**6)),
                    st.sampled_from(("", " ", "x" * 600, "a\x00b", "<!channel>")),
                    hostile_text(max_size=30),
                )
            )
        )
    for name in ("DTSTART", "DTEND"):
        for _ in range(draw(st.sampled_from((0, 1, 1, 1, 2)))):
            params = draw(
                st.sampled_from(("", ";TZID={}", ';TZID="{}"', ";VALUE=DATE", ";VALUE=JUNK"))
            ).format(draw(st.sampled_from(TZIDS)))
            lines.append(f"{name}{params}:{draw(st.sampled_from(DTVALUES))}")
    if draw(st.booleans()):
        lines.append("DURATION:" + draw(st.sampled_from(("PT30M", "P1D", "-PT1H", "P", "x"))))
    if draw(st.booleans()):
        sequence = draw(
            st.one_of(
                st.integers(-5, 5),
                st.integers(2**31 - 10, 2**31 + 10),
                st.integers(10**30, 10**40),
            )
        )
        lines.append(f"SEQUENCE:{draw(st.sampled_from((str(sequence), 'x', '', '1.5')))}")
    if draw(st.booleans()):
        lines.append("ORGANIZER;CN=Dana:mailto:" + REP_EMAIL)
    for _ in range(draw(st.integers(0, 3))):
        who = draw(st.sampled_from(("ana@globex.example", REP_EMAIL, "", "no-at", "room@x")))
        params = draw(
            st.sampled_from(("", ";CN=<!channel>", ";PARTSTAT=ACCEPTED", ";CUTYPE=ROOM", ";X"))
        )
        lines.append(f"ATTENDEE{params}:mailto:{who}")
    if draw(st.booleans()):
        lines.append("SUMMARY:" + draw(hostile_text(max_size=40)).replace("\n", " "))
    if draw(st.booleans()):
        lines.append("STATUS:" + draw(st.sampled_from(("CANCELLED", "CONFIRMED", "x"))))
    if draw(st.booleans()):
        lines.append("RRULE:" + draw(st.sampled_from(("FREQ=WEEKLY;COUNT=3", "FREQ=NOPE", ""))))
    if draw(st.integers(0, 3)) == 0:
        lines.append(
            draw(st.sampled_from(("no colon line", ":", ";;;", "X-ODD;=:v", "RECURRENCE-ID:x")))
        )
    return list(draw(st.permutations(lines)))


def _fold(line: str, width: int, broken: bool) -> str:
    """Fold a long line (RFC 5545), or break it without the leading space."""
    if len(line) <= width:
        return line
    chunks = [line[i : i + width] for i in range(0, len(line), width)]
    return ("\r\n" if broken else "\r\n ").join(chunks)


@st.composite
def broken_calendars(draw: st.DrawFn) -> bytes:
    """A calendar with missing BEGIN/END, bad values, odd folding or non-UTF-8 bytes."""
    events = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.integers(0, 3)) == 0:
            events.extend(good_event(f"good-{draw(st.integers(0, 9))}"))
            continue
        body = draw(event_lines())
        begin = ["BEGIN:VEVENT"] if draw(st.integers(0, 6)) else []
        end = ["END:VEVENT"] if draw(st.integers(0, 6)) else []
        events.extend(begin + body + end)
    head = []
    if draw(st.integers(0, 6)):
        head.append("BEGIN:VCALENDAR")
    head += ["VERSION:2.0", f"METHOD:{draw(st.sampled_from(METHODS))}"]
    if draw(st.booleans()):
        head.append("X-WR-TIMEZONE:" + draw(st.sampled_from(TZIDS)))
    tail = ["END:VCALENDAR"] if draw(st.integers(0, 6)) else []
    lines = head + events + tail
    width = draw(st.sampled_from((75, 75, 75, 10, 1)))
    broken = draw(st.integers(0, 6)) == 0
    text = "\r\n".join(_fold(line, width, broken) for line in lines) + "\r\n"
    charset = draw(st.sampled_from(("utf-8", "utf-8", "utf-8", "utf-8", "utf-16", "latin-1")))
    data = text.encode(charset, "replace")
    if draw(st.integers(0, 4)) == 0:
        position = draw(st.integers(0, len(data)))
        data = data[:position] + draw(st.binary(min_size=1, max_size=8)) + data[position:]
    if draw(st.integers(0, 8)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


def good_event(uid: str) -> list[str]:
    """A VEVENT that must become a meeting: an outside attendee, a valid start and end."""
    return [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20261101T090000Z",
        "DTSTART;TZID=Europe/Paris:20261124T150000",
        "DTEND;TZID=Europe/Paris:20261124T160000",
        f"ORGANIZER;CN=Dana:mailto:{REP_EMAIL}",
        "ATTENDEE;CN=Ana Silva;PARTSTAT=ACCEPTED:mailto:ana.silva@globex.example",
        "SUMMARY:Demo",
        "END:VEVENT",
    ]


@st.composite
def bad_events(draw: st.DrawFn) -> list[str]:
    """A VEVENT with BEGIN and END in place and something wrong inside it."""
    problem = draw(
        st.sampled_from(
            ("tzid", "dtstart", "sequence", "no-uid", "no-start", "twice", "backwards", "line")
        )
    )
    uid = draw(st.sampled_from(("bad-1", "bad-\u00e9", "<!channel>", "bad " * 3)))
    lines = [
        f"UID:{uid}",
        "DTSTART:20261124T150000Z",
        "ATTENDEE:mailto:bo@initech.example",
    ]
    if problem == "tzid":
        lines[1] = f"DTSTART;TZID={draw(st.sampled_from(('Mars/Olympus', 'Nowhere', 'x')))}" + (
            ":20261124T150000"
        )
    elif problem == "dtstart":
        lines[1] = "DTSTART:" + draw(st.sampled_from(("garbage", "20261324T256100Z", "")))
    elif problem == "sequence":
        lines.append(f"SEQUENCE:{draw(st.sampled_from(('-1', 'x', str(2**40), '9' * 40)))}")
    elif problem == "no-uid":
        lines.pop(0)
    elif problem == "no-start":
        lines.pop(1)
    elif problem == "twice":
        lines.append("DTSTART:20261125T150000Z")
    elif problem == "backwards":
        lines.append("DTEND:20261124T140000Z")
    else:
        lines.append(draw(st.sampled_from(("DTEND;;:x", "DTSTART;TZID:", 'ATTENDEE;CN="x:y'))))
    return ["BEGIN:VEVENT", *draw(st.permutations(lines)), "END:VEVENT"]


@st.composite
def badly_nested_events(draw: st.DrawFn) -> list[str]:
    """A VEVENT with BEGIN and END in place whose trouble is a component inside it."""
    inner = draw(
        st.sampled_from(
            (
                ["BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:garbage", "END:VALARM"],
                ["BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER;VALUE=DATE-TIME:x", "END:VALARM"],
                ["BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT15M", "REPEAT:x", "END:VALARM"],
                ["END:VALARM"],
                ["BEGIN:VALARM", "TRIGGER:-PT15M"],
                ["BEGIN:X-THING", "DTSTART:garbage", "END:X-THING"],
            )
        )
    )
    lines = ["UID:bad-nested", "DTSTART:20261124T150000Z", "ATTENDEE:mailto:bo@initech.example"]
    position = draw(st.integers(0, len(lines)))
    return ["BEGIN:VEVENT", *lines[:position], *inner, *lines[position:], "END:VEVENT"]


def calendar_of(events: list[list[str]], *, method: str = "REQUEST") -> bytes:
    """A VCALENDAR holding the events' lines."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//", f"METHOD:{method}"]
    for event in events:
        lines.extend(event)
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


# --- JSON and form bodies -----------------------------------------------------------------------

JSON_SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text(),
    huge_text(),
)


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value, nested a little."""
    return st.recursive(
        JSON_SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(hostile_text(max_size=10), inner, max_size=3),
        ),
        max_leaves=8,
    )


def deeply_nested() -> st.SearchStrategy[bytes]:
    """JSON nested deeper than Python's recursion limit allows for some depths."""
    return st.builds(
        lambda depth, opener, key: (b'{"' + key + b'": ' if opener == b"{" else opener) * depth,
        st.sampled_from((10, 900, 5_000, 100_000)),
        st.sampled_from((b"[", b"{")),
        st.sampled_from((b"id", b"events")),
    )


JSON_HOSTILE_TEXT = st.one_of(
    hostile_text(), st.sampled_from(("\ud800", "a\udfffb", "x\x00y", "\x00")), huge_text()
)


def json_body(value: Any, *, ascii_only: bool) -> bytes:
    """JSON bytes; lone surrogates are written as they are (invalid UTF-8) when not ASCII."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


# Valid in every free-text field (1 to 200 characters, not blank), hostile all the same.
FREE_TEXT = st.builds(
    str.__add__, st.sampled_from(("Ana", "<!channel>", "Globex &", "ü", "<@U1>")), hostile_text()
)
LONG_TEXT = st.one_of(FREE_TEXT, huge_text())  # for fields without a limit (transcripts)
Field = tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]


def field(valid: st.SearchStrategy[Any], *odd: Any) -> Field:
    """A field's valid values and its plausible wrong ones (a bad date, a bad URL)."""
    return valid, st.sampled_from(odd) if odd else JSON_HOSTILE_TEXT


@st.composite
def record(draw: st.DrawFn, fields: dict[str, Field]) -> dict[str, Any]:
    """A JSON object of a known shape, mostly valid; a few fields odd, hostile, mistyped or gone.

    Free-text fields carry hostile strings even when valid, so a clean record still tests
    what happens to ``<!channel>``, NUL and huge values once captured.
    """
    damaged = set(
        draw(
            st.one_of(
                st.just(()),
                st.just(()),
                st.lists(st.sampled_from(sorted(fields)), max_size=2),
                st.lists(st.sampled_from(sorted(fields))),
            )
        )
    )
    shaped: dict[str, Any] = {}
    for name, (valid, odd) in fields.items():
        if name not in damaged:
            shaped[name] = draw(valid)
            continue
        how = draw(st.sampled_from(("odd", "hostile", "wrong", "missing")))
        if how == "odd":
            shaped[name] = draw(odd)
        elif how == "hostile":
            shaped[name] = draw(JSON_HOSTILE_TEXT)
        elif how == "wrong":
            shaped[name] = draw(json_values())
    extras = draw(st.dictionaries(hostile_text(max_size=12), json_values(), max_size=2))
    return extras | shaped


LEAD_PHONES = st.sampled_from(("+14155550134", "+1 (415) 555-0199", "+442071838750"))
ODD_PHONES = ("", "client:ana", "+999", "anonymous", "+1415555013412345678", "+1 (415) 555-0111")
TIMES = st.sampled_from(("2026-11-20T14:00:00Z", "2026-11-20T14:00:00+01:00"))
ODD_TIMES = ("2026-11-20T14:00:00", "1999-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
             "2026-13-45T99:99:99Z", "yesterday", "")  # fmt: skip
RFC2822 = st.just("Fri, 20 Nov 2026 14:00:00 +0000")
ODD_RFC2822 = ("Fri, 31 Dec 9999 23:59:59 +0000", "garbage", "Fri, 20 Nov 1999 14:00:00 +0000")


def sids(prefix: str) -> Field:
    return field(
        st.builds(lambda n: f"{prefix}{n:032x}", st.integers(0, 99)),
        prefix,
        prefix + "g" * 32,
        "",
        prefix + "0" * 32 + "\x00",
    )


STATUSES = st.sampled_from(("completed", "busy", "no-answer", "canceled", "failed", "ringing"))
ODD_STATUSES = ("", "COMPLETED!", "in progress", "x" * 40)


@st.composite
def twilio_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """(body, content type) of a Twilio status, recording or transcription callback."""
    kind = draw(st.sampled_from(("status", "recording", "transcription")))
    fields: dict[str, Field] = {
        "CallSid": sids("CA"), "AccountSid": sids("AC"),
        "Direction": field(st.sampled_from(("inbound", "outbound-api")), "sideways"),
        "From": field(LEAD_PHONES, *ODD_PHONES), "To": field(st.just("+14155550111")),
        "CallStatus": field(STATUSES, *ODD_STATUSES),
        "CallDuration": field(st.sampled_from(("0", "90")), "-1", "1e9", "9" * 30),
        "Timestamp": field(RFC2822, *ODD_RFC2822),
    }  # fmt: skip
    if kind == "recording":
        fields |= {
            "RecordingSid": sids("RE"),
            "RecordingStatus": field(STATUSES, *ODD_STATUSES),
            "RecordingStartTime": field(RFC2822, *ODD_RFC2822),
        }
    elif kind == "transcription":
        fields |= {
            "TranscriptionSid": sids("TR"),
            "TranscriptionText": field(LONG_TEXT),
            "TranscriptionStatus": field(st.just("completed"), *ODD_STATUSES),
        }
    form = {name: str(value) for name, value in draw(record(fields)).items()}
    body = urlencode({k: v for k, v in form.items() if _utf8(k + v)}).encode()
    body = draw(
        st.sampled_from(
            (body, body, body, body, body + b"&%ff=%fe", body + b"&x=%", body.replace(b"&", b";"))
        )
    )
    content_type = draw(st.sampled_from((FORM, FORM, FORM, FORM, "application/json", "")))
    return body, content_type


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@st.composite
def generic_call_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """(body, content type) of the generic call shape with hostile values."""
    call = draw(
        record(
            {
                "id": field(st.builds(lambda n: f"pbx-{n}", st.integers(0, 999)), "", "a\x00"),
                "direction": field(st.sampled_from(("inbound", "outbound")), "sideways"),
                "from": field(LEAD_PHONES, *ODD_PHONES),
                "to": field(st.just("+14155550111"), *ODD_PHONES),
                "started_at": field(TIMES, *ODD_TIMES),
                "ended_at": field(st.just("2026-11-20T14:30:00Z"), *ODD_TIMES),
                "duration_s": field(st.integers(0, 7 * 86_400), -5, 10**9, 1.5),
                "rep_email": field(st.just(REP_EMAIL), "x@", "", "a b@c"),
                "transcript": field(LONG_TEXT),
                "notes": field(LONG_TEXT),
            }
        )
    )
    return json_body(call, ascii_only=draw(st.booleans())), "application/json"


@st.composite
def marketing_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """(body, content type) of a generic marketing batch with hostile values."""
    event = record(
        {
            "id": field(st.builds(lambda n: f"ev-{n}", st.integers(0, 999)), "", "e\x00", 7),
            "type": field(
                st.sampled_from(
                    ("page_view", "form_fill", "download", "email_open", "email_click", "webinar")
                ),
                "purchase",
                "",
            ),
            "occurred_at": field(TIMES, *ODD_TIMES),
            "visitor_id": field(st.sampled_from(("v-1", "v-2")), ""),
            "email": field(
                st.sampled_from(("ana.silva@globex.example", "bo@initech.example")),
                "x@y",
                "no-at",
                "a b@c.d",
            ),
            "name": field(FREE_TEXT),
            "company": field(FREE_TEXT),
            "url": field(
                st.sampled_from(("https://acme.example/pricing", "http://acme.example/blog")),
                "javascript:alert(1)",
                "",
                "ftp://x",
            ),
            "dwell_s": field(st.integers(0, 86_400), -1, 10**6, "long"),
            "asset": field(FREE_TEXT),
            "campaign": field(FREE_TEXT),
        }
    )
    events = draw(st.lists(st.one_of(*[event] * 5, json_values()), max_size=4))
    batch: Any = draw(st.sampled_from(({"events": events},) * 5 + (events, {"events": None})))
    return json_body(batch, ascii_only=draw(st.booleans())), "application/json"


HUBSPOT_PROPERTIES = st.sampled_from(
    ("recent_conversion_event_name", "hs_email_last_open_date", "hs_email_last_click_date")
)


@st.composite
def hubspot_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """(body, content type) of a HubSpot webhook batch with hostile values."""
    event = record(
        {
            "eventId": field(st.integers(0, 10**12), -1, "bad", "e\x00"),
            "subscriptionId": field(st.integers(0, 10**6), -1),
            "portalId": field(st.integers(0, 10**6), -1, 2**70),
            "appId": field(st.integers(0, 10**6)),
            "occurredAt": field(st.integers(0, 253_402_300_799_999), -1, 253_402_300_800_000),
            "objectId": field(st.integers(0, 10**12), -1),
            "subscriptionType": field(
                st.sampled_from(("contact.propertyChange", "object.propertyChange")),
                "contact.creation",
                "deal.creation",
                "contact.",
            ),
            "objectTypeId": field(st.just("0-1"), "0-3", 1),
            "propertyName": field(HUBSPOT_PROPERTIES, "email", "hs_analytics_last_url", "x"),
            "propertyValue": field(FREE_TEXT),
            "changeSource": field(FREE_TEXT),
            "attemptNumber": field(st.integers(0, 5)),
        }
    )
    events = draw(st.lists(st.one_of(*[event] * 5, json_values()), max_size=4))
    batch: Any = draw(st.sampled_from((events,) * 5 + ({"events": events},)))
    return json_body(batch, ascii_only=draw(st.booleans())), "application/json"


def garbage_bodies() -> st.SearchStrategy[tuple[bytes, str]]:
    """Bodies no source can read: random bytes, deep nesting, cut JSON."""
    return st.tuples(
        st.one_of(
            st.binary(max_size=200),
            deeply_nested(),
            st.sampled_from((b"", b"{", b'{"events": [{"id": "x"', b"null", b"[]", b"{}")),
        ),
        st.sampled_from(("application/json", FORM, "")),
    )


# Each webhook source's own shape, by source name (tests check every source has one).
WEBHOOK_SHAPES: dict[str, st.SearchStrategy[tuple[bytes, str]]] = {
    TWILIO_CALLS.name: twilio_bodies(),
    GENERIC_CALLS.name: generic_call_bodies(),
    HUBSPOT_WEBHOOK.name: hubspot_bodies(),
    MARKETING_WEBHOOK.name: marketing_bodies(),
}


def webhook_body(name: str) -> st.SearchStrategy[tuple[bytes, str]]:
    """(body, content type) for a source: mostly its own shape, hostile, else garbage."""
    shaped = WEBHOOK_SHAPES[name]
    return st.one_of(shaped, shaped, shaped, garbage_bodies())
