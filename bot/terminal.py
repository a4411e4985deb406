"""A transport that shows messages in the terminal the way Slack would lay them out."""

from __future__ import annotations

import itertools
import re
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from bot.outbox import Posted

_BOLD = re.compile(r"\*([^*\n]+)\*")


def _mrkdwn(text: str) -> Text:
    """Slack mrkdwn to rich text: bold, and the escaped entities shown as characters."""
    plain = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    out = Text()
    last = 0
    for match in _BOLD.finditer(plain):
        out.append(plain[last : match.start()])
        out.append(match.group(1), style="bold")
        last = match.end()
    out.append(plain[last:])
    return out


def render_blocks(blocks: list[dict[str, Any]]) -> Group:
    """Sections as text, buttons as [labels], context lines dimmed."""
    parts: list[Text] = []
    for block in blocks:
        if block["type"] == "section":
            parts.append(_mrkdwn(block["text"]["text"]))
        elif block["type"] == "actions":
            labels = "  ".join(f"[{e['text']['text']}]" for e in block["elements"])
            parts.append(Text(labels, style="cyan"))
        elif block["type"] == "context":
            line = _mrkdwn(" · ".join(e["text"] for e in block["elements"]))
            line.stylize("dim")
            parts.append(line)
    return Group(*parts)


class TerminalTransport:
    """Prints each message as a panel and answers like Slack would (channel and ts)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._ts = itertools.count(1)

    async def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        thread_ts: str | None,
        metadata: dict[str, Any],
    ) -> Posted:
        channel_id = "D" + channel[1:] if channel.startswith("U") else channel
        ts = f"1700000000.{next(self._ts):06d}"
        title = f"→ {channel_id}" + (" (in thread)" if thread_ts else "")
        self.console.print(
            Panel(
                render_blocks(blocks),
                title=title,
                title_align="left",
                width=100,
                border_style="dim" if thread_ts else "green",
            )
        )
        return Posted(channel_id=channel_id, ts=ts)
