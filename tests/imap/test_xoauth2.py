"""OAuth2 logins (Gmail, Outlook): the XOAUTH2 SASL string on the wire, and Dovecot's check."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from bot.runtime import Runtime
from models.config import MailboxConfig
from tests.conftest import NOW
from tests.imap.conftest import SECRET_ENV, Dovecot, append
from tests.imap.dovecot_config import USER
from tests.imap.support import REP_ADDRESS, email_ids, listener, listening, wait_for_emails
from tests.mail_factory import distinct_messages

TOKEN = "ya29.a0AfH6SMB-test-access-token"


async def test_xoauth2_sends_the_sasl_string_that_gmail_and_outlook_expect(
    runtime: Runtime,
) -> None:
    received: list[bytes] = []
    seen = asyncio.Event()

    async def imap_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        capabilities = b"IMAP4rev1 SASL-IR AUTH=XOAUTH2 IDLE"
        writer.write(b"* OK [CAPABILITY " + capabilities + b"] ready\r\n")
        while line := await reader.readline():
            tag, _, command = line.rstrip(b"\r\n").partition(b" ")
            if command == b"CAPABILITY":
                writer.write(b"* CAPABILITY " + capabilities + b"\r\n" + tag + b" OK done\r\n")
            else:
                received.append(command)
                seen.set()
                writer.write(tag + b" NO [AUTHENTICATIONFAILED] invalid credentials\r\n")
        writer.close()

    server = await asyncio.start_server(imap_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    mailbox = _mailbox(port, user="dana@globex.example")
    async with server, listening(listener(runtime, mailbox, {SECRET_ENV: TOKEN})):
        await asyncio.wait_for(seen.wait(), timeout=5)

    verb, mechanism, initial = received[0].split(b" ")
    assert (verb, mechanism) == (b"AUTHENTICATE", b"XOAUTH2")
    assert (
        base64.b64decode(initial) == f"user=dana@globex.example\1auth=Bearer {TOKEN}\1\1".encode()
    )


def _mailbox(port: int, *, user: str) -> MailboxConfig:
    return MailboxConfig(
        name="gmail", host="127.0.0.1", port=port, ssl=False, user=user, auth="xoauth2",
        secret_env=SECRET_ENV,
    )  # fmt: skip


@pytest.mark.imap
async def test_dovecot_accepts_a_valid_token_and_refuses_a_forged_one(
    dovecot: Dovecot, runtime: Runtime
) -> None:
    if dovecot.version >= (2, 4):
        pytest.skip("the oauth2 passdb of this fixture is written in Dovecot 2.3 syntax")
    (mail,) = distinct_messages(1, REP_ADDRESS, start=NOW - timedelta(hours=1))
    mailbox = dovecot.mailbox(auth="xoauth2")
    forged = {SECRET_ENV: dovecot.token(key=b"not-the-key-the-server-trusts-00")}
    async with dovecot.client() as imap:
        await append(imap, [mail[1]])
    with capture_logs() as logs:
        async with listening(listener(runtime, mailbox, forged, timeout_s=0.5)):
            for _ in range(100):
                if any(entry["event"] == "mailbox.reconnecting" for entry in logs):
                    break
                await asyncio.sleep(0.05)
    assert not await email_ids(runtime)
    assert any(entry["event"] == "mailbox.reconnecting" for entry in logs)

    async with listening(listener(runtime, mailbox, {SECRET_ENV: dovecot.token(USER)})):
        await wait_for_emails(runtime, 1)
    assert await email_ids(runtime) == [mail[0]]
