"""Backfills: mail files and calendar files, through the one ingestion path in bulk."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import structlog

from bot.bulk import capture_many
from bot.flows import sweep
from bot.runtime import Runtime
from handlers.calendar import meetings_from_ics, read_ics_files
from handlers.mail_capture import email_inputs
from handlers.mail_files import MailFile, read_messages
from handlers.reading import PARALLEL_FROM, Readers

log = structlog.get_logger(__name__)


async def import_mail(
    runtime: Runtime,
    files: Sequence[MailFile],
    *,
    readers: Readers | None = None,
    progress: Callable[[int], None] | None = None,
) -> Counter[str]:
    """Backfill from files of mail (see :func:`handlers.mail_files.find_mail`), invites
    included; a large backfill is read by worker processes (``readers``, else its own)."""
    crm = runtime.config.crm
    reader = partial(
        email_inputs,
        internal_domains=crm.internal_domains,
        default_region=crm.default_region,
        max_attachment_bytes=crm.capture.max_attachment_bytes,
    )
    raws = (raw for _where, raw in read_messages(files))
    with ExitStack() as stack:
        if readers is None and sum(file.messages for file in files) >= PARALLEL_FROM:
            readers = stack.enter_context(Readers())
        outcomes = await capture_many(runtime, raws, reader, readers=readers, progress=progress)
    outcomes["nudged"] = await sweep(runtime)
    log.info("import_mail.done", **outcomes)
    return outcomes


async def import_ics(runtime: Runtime, paths: Iterable[Path]) -> Counter[str]:
    """Backfill meetings from .ics files and folders of them."""
    reader = partial(meetings_from_ics, internal_domains=runtime.config.crm.internal_domains)
    datas = (data for _where, data in read_ics_files(paths))
    outcomes = await capture_many(runtime, datas, reader)
    outcomes["nudged"] = await sweep(runtime)
    log.info("import_ics.done", **outcomes)
    return outcomes
