"""Cut a body down to the author's own text: drop quoted replies and split off the signature."""

import re
from collections.abc import Sequence

from handlers.mail_signature import split_signature

_ATTRIBUTION_END = re.compile(
    r"(?:wrote|writes|schrieb|a écrit|escribió|ha scritto|schreef|escreveu|skrev)\s*:$", re.I
)
_ATTRIBUTION_START = re.compile(r"^(?:On|Le|Am|El|Il|Op|Em|Den|På)\s", re.I)
_REPLY_HEADER_FROM = re.compile(r"^\*?(?:From|Von|De)\s?:\*?\s", re.I)
_REPLY_HEADER_SENT = re.compile(r"^\*?(?:Sent|Date|Gesendet|Envoyé|Enviado)\s?:\*?\s", re.I)
_ORIGINAL_MESSAGE = re.compile(
    r"^-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine)\s*-{2,}$", re.I
)
_MOBILE_FOOTER = re.compile(
    r"^(?:Sent from my \w+|Sent from \w+ for \w+|Get Outlook for \w+)", re.I
)
_RULE = re.compile(r"^[-_=*~]{4,}$")


def split_body(text: str) -> tuple[str, list[str]]:
    """The author's own text, and the signature lines cut from its end."""
    lines = [line.rstrip().replace("\xa0", " ") for line in text.splitlines()]
    body_lines, signature_lines = split_signature(_strip_quoted(lines))
    return _join_paragraphs(body_lines), signature_lines


def _strip_quoted(lines: list[str]) -> list[str]:
    """Drop ``>`` lines and their attribution; cut at the first top-posted quoted message.

    >>> _strip_quoted(["Sounds good.", "", "On Tue, 2 Jan 2024, Bob <b@x.com> wrote:",
    ...                "> Monday?", "", "Jane"])
    ['Sounds good.', '', '', 'Jane']
    >>> _strip_quoted(["Yes.", "________", "From: Bob", "Sent: Monday", "Subject: x", "hi"])
    ['Yes.']
    """
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        if line.startswith(">"):
            index += 1
            continue
        span = _attribution_span(lines, index)
        if span and _quote_follows(lines, index + span):
            index += span
            continue
        if (span and _is_dated_attribution(lines[index : index + span])) or _starts_quote(
            lines, index
        ):
            break
        kept.append(lines[index])
        index += 1
    while kept and (not kept[-1].strip() or _RULE.match(kept[-1].strip())):
        kept.pop()
    return kept


def _attribution_span(lines: Sequence[str], index: int) -> int:
    """How many lines (1 or 2, as clients wrap it) an "X wrote:" line takes; 0 if none."""
    line = lines[index].strip()
    if line.endswith(":") and _ATTRIBUTION_END.search(line):
        return 1
    following = lines[index + 1].strip() if index + 1 < len(lines) else ""
    if following.endswith(":") and _ATTRIBUTION_START.match(line):
        return 2 if _ATTRIBUTION_END.search(f"{line} {following}") else 0
    return 0


def _quote_follows(lines: Sequence[str], index: int) -> bool:
    """Whether the next non-blank line from this index on is ``>`` quoted."""
    for line in lines[index:]:
        if line.strip():
            return line.lstrip().startswith(">")
    return False


def _is_dated_attribution(lines: Sequence[str]) -> bool:
    """Whether an attribution reads like "On <date>, X wrote:" (a top-posted quote follows)."""
    text = " ".join(line.strip() for line in lines)
    return bool(_ATTRIBUTION_START.match(text)) and any(char.isdigit() for char in text)


def _starts_quote(lines: Sequence[str], index: int) -> bool:
    """Whether an Outlook-style quoted message or a mobile footer starts at this line."""
    line = lines[index].strip()
    if _ORIGINAL_MESSAGE.match(line) or _MOBILE_FOOTER.match(line):
        return True
    return bool(_REPLY_HEADER_FROM.match(line)) and any(
        _REPLY_HEADER_SENT.match(following.strip()) for following in lines[index + 1 : index + 5]
    )


def _join_paragraphs(lines: list[str]) -> str:
    """Join lines, keeping at most one blank line between paragraphs."""
    kept: list[str] = []
    for line in lines:
        if line.strip() or (kept and kept[-1]):
            kept.append(line if line.strip() else "")
    return "\n".join(kept).strip()
