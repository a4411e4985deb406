"""Tests for the raw-mail parser."""

import base64
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from handlers.mail import (
    Address,
    AttachmentInfo,
    MailParseError,
    ParsedEmail,
    Signature,
    direction,
    external_participants,
    parse_email,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mail"
INTERNAL = frozenset({"acme.io"})


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse_fixture(name: str) -> ParsedEmail:
    return parse_email(fixture(name))


def mail(headers: str, body: str = "Hello", *, content_type: str = "text/plain") -> bytes:
    """A small single-part message; ``headers`` lines are added before the content type."""
    return (f"{headers.strip()}\nContent-Type: {content_type}\n\n{body}").encode()


BASE_HEADERS = """\
Message-ID: <base-1@globex.com>
Date: Tue, 2 Jan 2024 10:00:00 +0000
From: Bob Stone <bob@globex.com>
To: sam@acme.io
Subject: Hello
"""


# --- fixtures --------------------------------------------------------------------------------


def test_plain_reply_headers() -> None:
    parsed = parse_fixture("plain_reply.eml")
    assert parsed.message_id == "CAF7x3=p8Qk2@mail.globex-logistics.com"
    assert parsed.sent_at == datetime(2024, 3, 5, 14, 2, 7, tzinfo=UTC)
    assert parsed.sender == Address("dana.whitfield@globex-logistics.com", "Whitfield, Dana")
    assert parsed.to == (Address("sam@acme.io", "Sam Ortiz"),)
    assert parsed.cc == (
        Address("procurement@globex-logistics.com", ""),
        Address("priya@acme.io", "Priya Raman"),
    )
    assert parsed.subject == "Re: Pilot pricing for the Q2 rollout"
    assert parsed.in_reply_to == "20240304.171500.acme-3311@acme.io"
    assert parsed.references == (
        "20240301.090000.acme-3300@acme.io",
        "20240304.171500.acme-3311@acme.io",
    )
    assert parsed.thread_key == "20240301.090000.acme-3300@acme.io"
    assert parsed.skip_reason is None
    assert parsed.calendar_parts == ()
    assert parsed.attachments == ()


def test_plain_reply_body_drops_quote_and_signature() -> None:
    parsed = parse_fixture("plain_reply.eml")
    assert parsed.body == (
        "Hi Sam,\n\nThanks for the revised quote. We can sign the pilot for 40 seats if the\n"
        "onboarding fee is waived. Can you send the order form by Friday?\n\nBest regards,"
    )
    assert parsed.signature == Signature(
        phone="+13125550187", title="VP of Operations", company="Globex Logistics Inc."
    )


def test_html_only_mail_is_converted_to_text() -> None:
    parsed = parse_fixture("html_only.eml")
    assert parsed.body == (
        "Hi Sam,\n\nThe demo went well. Our team would like a security review before we move "
        "forward & we need the SOC 2 report."
    )
    assert parsed.signature == Signature(
        phone="+4930901820", title="Head of IT", company="Initech GmbH"
    )
    assert parsed.sent_at == datetime(2024, 3, 6, 15, 45, tzinfo=UTC)


def test_calendar_invite_keeps_raw_calendar_part() -> None:
    parsed = parse_fixture("calendar_invite.eml")
    assert len(parsed.calendar_parts) == 1
    calendar = parsed.calendar_parts[0]
    assert calendar.startswith(b"BEGIN:VCALENDAR\r\n")
    assert b"SUMMARY:Globex / Acme pilot kickoff" in calendar
    assert parsed.attachments == (
        AttachmentInfo(filename="invite.ics", content_type="application/ics", size=len(calendar)),
    )
    assert parsed.body.startswith("You have been invited to the following event.")


def test_auto_reply_fixture_is_skipped() -> None:
    assert parse_fixture("auto_reply.eml").skip_reason == "auto-reply"


def test_newsletter_fixture_is_a_list_mail() -> None:
    parsed = parse_fixture("newsletter.eml")
    assert parsed.skip_reason == "list"
    assert parsed.body.startswith("This week in SaaS\nFive pricing experiments that worked.")


def test_iso_8859_1_headers_and_body() -> None:
    parsed = parse_fixture("iso_8859_1.eml")
    assert parsed.sender == Address("rene.lefevre@laposte-pro.fr", "René Lefèvre")
    assert parsed.subject == "Démo et déploiement à Genève"
    assert "Nous préférons un déploiement à Genève en été." in parsed.body
    assert parsed.body.endswith("Cordialement")


def test_shift_jis_headers_and_body() -> None:
    parsed = parse_fixture("shift_jis.eml")
    assert parsed.sender.name == "佐藤 花子"
    assert parsed.subject == "お見積もりの件"
    assert "お見積もりありがとうございます。" in parsed.body


def test_windows_1252_body() -> None:
    body = parse_fixture("windows_1252.eml").body
    assert "That\u2019s great \u2013 the \u201centerprise\u201d tier" in body
    assert "\u20ac40k" in body


def test_utf8_body_declared_as_latin_1_is_read_as_utf8() -> None:
    body = parse_fixture("wrong_charset.eml").body
    assert "The Zürich team signed off \u2013 let\u2019s schedule the kickoff." in body


def test_broken_boundary_is_salvaged() -> None:
    parsed = parse_fixture("broken_boundary.eml")
    assert parsed.body == (
        "Sam, here are the volumes you asked for. We ship about 1,200 containers a year."
    )
    assert parsed.attachments == (
        AttachmentInfo(filename="volumes.csv", content_type="text/csv", size=25),
    )


def test_outlook_reply_cuts_the_original_message() -> None:
    parsed = parse_fixture("outlook_reply.eml")
    assert parsed.body == (
        "Sam,\n\nWe are good to renew for another year. Please send the paperwork to our legal "
        "team.\n\nThanks,"
    )
    assert parsed.signature == Signature(
        phone="+15705550143",
        title="Accounts Payable Manager",
        company="Dunder Mifflin Paper Company, Inc.",
    )
    assert parsed.thread_key == "20240315.renewal.acme-4410@acme.io"


# --- charsets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("charset", "payload", "expected"),
    [
        ("x-made-up", "Grüße".encode(), "Grüße"),
        ("utf-8", "Grüße".encode("latin-1"), "Grüße"),
        ("us-ascii", "naïve".encode(), "naïve"),
        ("hex", b"plain", "plain"),
        ('"UTF-8"', "déjà".encode(), "déjà"),
    ],
)
def test_wrong_or_unknown_charsets_fall_back(charset: str, payload: bytes, expected: str) -> None:
    raw = BASE_HEADERS.encode() + f"Content-Type: text/plain; charset={charset}\n\n".encode()
    assert parse_email(raw + payload).body == expected


def test_damaged_utf8_keeps_the_readable_text() -> None:
    payload = "Déjà vu, café ".encode() + b"\xff"
    raw = BASE_HEADERS.encode() + b"Content-Type: text/plain; charset=utf-8\n\n" + payload
    assert parse_email(raw).body == "Déjà vu, café \ufffd"


def test_raw_utf8_headers_are_decoded() -> None:
    raw = (
        "Message-ID: <x@globex.com>\nDate: Tue, 2 Jan 2024 10:00:00 +0000\n"
        "From: Jürgen Groß <jg@globex.de>\nTo: sam@acme.io\nSubject: Angebot für Zürich\n\nHallo"
    ).encode()
    parsed = parse_email(raw)
    assert parsed.sender == Address("jg@globex.de", "Jürgen Groß")
    assert parsed.subject == "Angebot für Zürich"


def test_encoded_display_name_with_comma_stays_one_address() -> None:
    raw = mail(
        BASE_HEADERS.replace("To: sam@acme.io", "To: =?utf-8?q?Ortiz=2C_Sam?= <sam@acme.io>")
    )
    assert parse_email(raw).to == (Address("sam@acme.io", "Ortiz, Sam"),)


# --- headers -----------------------------------------------------------------------------------


def test_missing_message_id_gets_a_stable_hash() -> None:
    raw = mail(BASE_HEADERS.replace("Message-ID: <base-1@globex.com>\n", ""))
    first, again = parse_email(raw), parse_email(raw)
    assert first.message_id.startswith("sha256:")
    assert len(first.message_id) == len("sha256:") + 64
    assert first.message_id == again.message_id == first.thread_key
    assert parse_email(raw + b"!").message_id != first.message_id


def test_thread_key_falls_back_to_in_reply_to() -> None:
    raw = mail(BASE_HEADERS + "In-Reply-To: <parent@acme.io> (Sam's message)\n")
    parsed = parse_email(raw)
    assert (parsed.in_reply_to, parsed.thread_key) == ("parent@acme.io", "parent@acme.io")


def test_date_falls_back_to_newest_received() -> None:
    headers = BASE_HEADERS.replace("Date: Tue, 2 Jan 2024 10:00:00 +0000\n", "Date: someday\n")
    received = (
        "Received: from b by c; Wed, 3 Jan 2024 12:00:05 +0100\n"
        "Received: from a by b; Wed, 3 Jan 2024 12:00:00 +0100\n"
    )
    assert parse_email(mail(received + headers)).sent_at == datetime(
        2024, 1, 3, 11, 0, 5, tzinfo=UTC
    )


def test_date_without_zone_is_utc() -> None:
    raw = mail(BASE_HEADERS.replace("+0000", "-0000"))
    assert parse_email(raw).sent_at == datetime(2024, 1, 2, 10, 0, tzinfo=UTC)


def test_subject_whitespace_is_collapsed() -> None:
    raw = mail(BASE_HEADERS.replace("Subject: Hello", "Subject: Quote\n\t for   Q3 "))
    assert parse_email(raw).subject == "Quote for Q3"


def test_recipients_are_lower_cased_and_deduplicated() -> None:
    many = ", ".join(f"User {n} <User{n}@Globex.com>" for n in range(25))
    raw = mail(BASE_HEADERS.replace("To: sam@acme.io", f"To: {many}, user0@globex.com"))
    to = parse_email(raw).to
    assert len(to) == 25
    assert to[0] == Address("user0@globex.com", "User 0")


@pytest.mark.parametrize(
    ("extra_headers", "expected"),
    [
        ("Auto-Submitted: auto-generated\n", "auto-reply"),
        ("Auto-Submitted: no\n", None),
        ("X-Autoreply: yes\n", "auto-reply"),
        ("X-Autorespond: on\n", "auto-reply"),
        ("Precedence: bulk\n", "bulk"),
        ("Precedence: junk\n", "bulk"),
        ("Precedence: list\nList-Id: <sales.acme.io>\n", "bulk"),
        ("List-Id: Sales <sales.acme.io>\n", "list"),
        ("List-Unsubscribe: <mailto:u@x.com>\n", "list"),
    ],
)
def test_skip_reason_from_headers(extra_headers: str, expected: str | None) -> None:
    assert parse_email(mail(BASE_HEADERS + extra_headers)).skip_reason == expected


@pytest.mark.parametrize("subject", ["Out of Office: travelling", "Automatic reply: Pricing"])
def test_skip_reason_from_auto_reply_subject(subject: str) -> None:
    raw = mail(BASE_HEADERS.replace("Subject: Hello", f"Subject: {subject}"))
    assert parse_email(raw).skip_reason == "auto-reply"


# --- body ----------------------------------------------------------------------------------------


def test_original_message_marker_cuts_the_rest() -> None:
    body = "Approved.\n\n-----Original Message-----\nFrom: Sam\nSent: Monday\n\nPlease approve."
    assert parse_email(mail(BASE_HEADERS, body)).body == "Approved."


def test_bottom_posted_reply_keeps_the_answers() -> None:
    body = (
        "On Mon, 1 Jan 2024 at 09:00, Sam <sam@acme.io> wrote:\n> Can you do 50 seats?\n\n"
        "Yes, 50 works.\n\n> And a 2-year term?\n\nOnly 1 year for now.\n"
    )
    assert parse_email(mail(BASE_HEADERS, body)).body == "Yes, 50 works.\n\nOnly 1 year for now."


def test_wrapped_gmail_attribution_is_removed() -> None:
    body = (
        "Sounds good.\n\nOn Mon, Jan 1, 2024 at 9:00 AM Sam Ortiz <\nsam@acme.io> wrote:\n\n"
        "> Shall we meet?\n"
    )
    assert parse_email(mail(BASE_HEADERS, body)).body == "Sounds good."


def test_dash_dash_signature_and_fax_number() -> None:
    body = (
        "See you then.\n-- \nBob Stone\nChief Revenue Officer\nGlobex\n"
        "Fax: 020 7946 0000 | Tel: 020 7946 0958\n"
    )
    parsed = parse_email(mail(BASE_HEADERS, body), default_region="GB")
    assert parsed.body == "See you then."
    assert parsed.signature == Signature(
        phone="+442079460958", title="Chief Revenue Officer", company="Globex"
    )


def test_sign_off_followed_by_sentences_is_not_a_signature() -> None:
    body = "Thanks,\nI will send the updated deck tomorrow morning.\nBob"
    parsed = parse_email(mail(BASE_HEADERS, body))
    assert parsed.body == body
    assert parsed.signature == Signature()


def test_title_at_company_on_one_line() -> None:
    body = "Talk soon.\n\nCheers,\nBob\nAccount Executive at Globex\nbob@globex.com"
    assert parse_email(mail(BASE_HEADERS, body)).signature == Signature(
        phone=None, title="Account Executive", company="Globex"
    )


def test_html_blockquote_and_outlook_block_are_removed() -> None:
    html = (
        "<p>Works for me.</p><hr><div id='divRplyFwdMsg'><b>From:</b> Sam<br>"
        "<b>Sent:</b> Monday<br><b>To:</b> Bob</div><p>Old text</p>"
    )
    parsed = parse_email(mail(BASE_HEADERS, html, content_type="text/html; charset=utf-8"))
    assert parsed.body == "Works for me."


def test_empty_text_part_falls_back_to_html() -> None:
    raw = (
        BASE_HEADERS
        + 'Content-Type: multipart/alternative; boundary="b"\n\n'
        + "--b\nContent-Type: text/plain\n\n \n--b\nContent-Type: text/html\n\n<p>Real text</p>\n"
        + "--b--\n"
    ).encode()
    assert parse_email(raw).body == "Real text"


def test_large_attachment_is_measured_not_kept() -> None:
    content = random.Random(7).randbytes(6 * 1024 * 1024)
    encoded = base64.encodebytes(content).decode()
    raw = (
        BASE_HEADERS
        + 'Content-Type: multipart/mixed; boundary="mix"\n\n'
        + "--mix\nContent-Type: text/plain\n\nContract attached.\n"
        + '--mix\nContent-Type: application/pdf; name="contract.pdf"\n'
        + 'Content-Disposition: attachment; filename="=?utf-8?q?Vertrag_M=C3=BCnchen.pdf?="\n'
        + f"Content-Transfer-Encoding: base64\n\n{encoded}--mix--\n"
    ).encode()
    parsed = parse_email(raw)
    assert parsed.body == "Contract attached."
    assert parsed.attachments == (
        AttachmentInfo("Vertrag München.pdf", "application/pdf", len(content)),
    )


def test_forwarded_message_attachment_is_not_entered() -> None:
    raw = (
        BASE_HEADERS
        + 'Content-Type: multipart/mixed; boundary="mix"\n\n'
        + "--mix\nContent-Type: text/html\n\n<p>FYI</p>\n"
        + "--mix\nContent-Type: message/rfc822\n\nFrom: x@y.com\nSubject: inner\n\nInner body\n"
        + "--mix--\n"
    ).encode()
    parsed = parse_email(raw)
    assert parsed.body == "FYI"
    assert [info.content_type for info in parsed.attachments] == ["message/rfc822"]


# --- direction and participants ------------------------------------------------------------------


def with_people(sender: str, to: str, cc: str = "") -> ParsedEmail:
    headers = f"Date: Tue, 2 Jan 2024 10:00:00 +0000\nFrom: {sender}\nTo: {to}\nCc: {cc}\n"
    return parse_email(mail(headers))


def test_direction() -> None:
    assert direction(with_people("bob@globex.com", "sam@acme.io"), INTERNAL) == "inbound"
    outbound = with_people("sam@eu.acme.io", "priya@acme.io", "bob@globex.com")
    assert direction(outbound, INTERNAL) == "outbound"
    assert direction(with_people("sam@acme.io", "priya@ACME.io"), INTERNAL) == "internal"
    assert direction(with_people("sam@notacme.io", "priya@acme.io"), INTERNAL) == "inbound"


def test_external_participants_sender_first_deduplicated() -> None:
    parsed = with_people(
        "Bob <bob@globex.com>", "sam@acme.io, ann@globex.com", "bob@globex.com, li@initech.com"
    )
    assert external_participants(parsed, INTERNAL) == (
        Address("bob@globex.com", "Bob"),
        Address("ann@globex.com", ""),
        Address("li@initech.com", ""),
    )


# --- unreadable input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty input"),
        (b" \r\n\t", "empty input"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\nbinary", "not an email"),
        (b"Subject: hi\nDate: Tue, 2 Jan 2024 10:00:00 +0000\n\nbody", "no sender address"),
        (b"From: a@b.com\nSubject: hi\n\nbody", "no usable Date or Received header"),
    ],
)
def test_unreadable_input_raises_readable_error(raw: bytes, reason: str) -> None:
    with pytest.raises(MailParseError, match=reason):
        parse_email(raw)


def test_absurdly_deep_mime_nesting_is_rejected() -> None:
    nested = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (level, level)
        for level in range(3000)
    )
    raw = b"From: a@globex.com\nDate: Tue, 2 Jan 2024 10:00:00 +0000\n" + nested + b"\nhi\n"
    with pytest.raises(MailParseError, match="malformed email"):
        parse_email(raw)


def fuzz_inputs() -> list[bytes]:
    rng = random.Random(20240305)
    samples = [rng.randbytes(rng.randrange(1, 400)) for _ in range(200)]
    for path in sorted(FIXTURES.glob("*.eml")):
        raw = path.read_bytes()
        samples += [raw[:cut] for cut in range(0, len(raw), max(1, len(raw) // 40))]
        for _ in range(40):
            mutated = bytearray(raw)
            for _ in range(rng.randrange(1, 12)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            samples.append(bytes(mutated))
    samples += [
        b"Content-Type: multipart/mixed; boundary=x\nFrom: a@b.c\n\n" + b"--x\n" * 500,
        b"From: a@b.c\nContent-Type: text/html\n\n<![weird[ x ]]><p>hi",
        b"From: a@b.c\nDate: Tue, 2 Jan 99999 10:00:00 +0000\n\nx",
        b"From: =?utf-8?b?@@@?= <a@b.c>\nDate: 0\nSubject: =?bogus?q?=ZZ?=\n\nx",
    ]
    return samples


def outcome(raw: bytes) -> str:
    """ "parsed" or "rejected"; any other exception escapes and fails the test."""
    try:
        result = parse_email(raw)
    except MailParseError as error:
        return "rejected" if str(error) else "rejected without a reason"
    return "parsed" if result.sent_at.tzinfo is UTC else "parsed with a naive date"


def test_random_and_broken_bytes_only_parse_or_raise_mail_parse_error() -> None:
    outcomes = Counter(outcome(raw) for raw in fuzz_inputs())
    assert set(outcomes) == {"parsed", "rejected"}
