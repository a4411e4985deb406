"""Find the sender's signature block at the end of a body and read phone, title and company."""

import re

import phonenumbers

from handlers.mail_text import collapse

_SIGN_OFF = re.compile(
    r"^(?:best|best regards|best wishes|kind regards|warm regards|warmest regards|regards|"
    r"many thanks|thanks|thanks again|thanks so much|thank you|cheers|sincerely|yours sincerely|"
    r"yours truly|all the best|talk soon|thx|br|cordialement|bien à vous|"
    r"mit freundlichen grüßen|viele grüße|beste grüße|saludos|un saludo|atentamente|"
    r"met vriendelijke groet|groeten)\s*[,.!]*$",
    re.I,
)
_MAX_SIGNATURE_LINES = 12
_MAX_SIGNATURE_LINE_LENGTH = 100
_TITLE_WORDS = re.compile(
    r"\b(?:CEO|CTO|CFO|COO|CMO|CRO|CIO|CISO|VP|SVP|EVP|AVP|Vice President|Director|Head of|"
    r"Manager|Engineer|Analyst|Founder|Co-Founder|Owner|President|Partner|Lead|Specialist|"
    r"Coordinator|Consultant|Account Executive|Sales Executive|Chief \w+ Officer|Representative|"
    r"Architect|Associate)\b",
    re.I,
)
_ORGANISATION = re.compile(
    r"(?<![\w.])(?:Inc|Incorporated|Ltd|Limited|LLC|LLP|GmbH|AG|Corp|Corporation|Co\.|S\.A|SA|"
    r"PLC|Pty|B\.V|BV|N\.V|NV|SAS|SARL|S\.r\.l|S\.p\.A|SpA|KK|K\.K|Oy|AB|ApS|A/S)\.?(?![\w-])"
)
# Separators between name, title and company on one line: dashes, pipes, bullets, "at".
_SEGMENT_SEPARATOR = re.compile(
    r"\s+[-\u2013\u2014|\u2022\u00b7]\s+|\s*[|\u2022\u00b7]\s*|\s+(?:at|@)\s+"
)
_CONTACT = re.compile(
    r"https?://|www\.|\S@\S|\b[\w-]+\.(?:com|net|org|io|ai|co|de|uk|fr|jp)\b|"
    r"[+(]?\d[\d\s().-]{6,}\d",
    re.I,
)
_STREET = re.compile(
    r"^\d+\s+\w|\b(?:Street|St\.|Avenue|Ave\.?|Road|Rd\.|Suite|Blvd|Floor|Straße|Strasse)\b", re.I
)
_FAX_LABEL = re.compile(r"\b(?:fax|f)\b\W*$", re.I)
_MIN_PHONE_DIGITS = 7
_MAX_COMPANY_WORDS = 6

# --- finding the signature ---------------------------------------------------------------------


def split_signature(lines: list[str]) -> tuple[list[str], list[str]]:
    """Split at a ``-- `` line, else after a sign-off followed only by short lines.

    >>> split_signature(["Deal.", "", "Thanks,", "Jane", "CEO"])
    (['Deal.', '', 'Thanks,'], ['Jane', 'CEO'])
    >>> split_signature(["Thanks,", "I will send the deck tomorrow.", "Jane"])
    (['Thanks,', 'I will send the deck tomorrow.', 'Jane'], [])
    """
    for index, line in enumerate(lines):
        if line.rstrip() == "--":
            return lines[:index], lines[index + 1 :]
    trailing = 0
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index].strip()
        if _SIGN_OFF.match(line):
            tail = lines[index + 1 :]
            if all(_is_signature_line(candidate.strip()) for candidate in tail):
                return lines[: index + 1], tail
            break
        trailing += bool(line)
        if trailing > _MAX_SIGNATURE_LINES:
            break
    return lines, []


def _is_signature_line(line: str) -> bool:
    """Whether a line after a sign-off looks like signature rather than prose."""
    if len(line) > _MAX_SIGNATURE_LINE_LENGTH or line.endswith(("?", "!")):
        return False
    is_sentence = line.endswith(".") and len(line.split()) >= 4
    return not is_sentence or bool(_ORGANISATION.search(line))


# --- reading its fields ------------------------------------------------------------------------


def signature_fields(lines: list[str], region: str) -> tuple[str | None, str | None, str | None]:
    """Phone (E.164), title and company from signature lines.

    >>> signature_fields(["Jane Doe", "Head of Sales | Globex", "T: +44 20 7946 0958"], "US")
    ('+442079460958', 'Head of Sales', 'Globex')
    """
    cleaned = [collapse(line) for line in lines if line.strip()][: _MAX_SIGNATURE_LINES + 3]
    title, company = _title_and_company(cleaned)
    return _find_phone(cleaned, region), title, company


def _find_phone(lines: list[str], region: str) -> str | None:
    """The first phone number that is not labelled as a fax, in E.164 form."""
    for line in lines:
        if sum(char.isdigit() for char in line) < _MIN_PHONE_DIGITS:
            continue
        for match in phonenumbers.PhoneNumberMatcher(line, region):
            if not _FAX_LABEL.search(line[: match.start]):
                return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return None


def _title_and_company(lines: list[str]) -> tuple[str | None, str | None]:
    """The first job title, and the company: a legal-form name, else what follows the title."""
    organisation = _organisation_name(lines)
    for index, line in enumerate(lines):
        segments = _segments(line)
        for position, segment in enumerate(segments):
            if _TITLE_WORDS.search(segment) and not _CONTACT.search(segment):
                following = [*segments[position + 1 :], *lines[index + 1 : index + 2]]
                if organisation is None and following and _could_be_company(following[0]):
                    organisation = following[0]
                return _title_before_organisation(segment), organisation
    return None, organisation


def _title_before_organisation(segment: str) -> str:
    """Drop a trailing ", Acme Inc." from a title segment."""
    pieces = segment.split(", ")
    for position, piece in enumerate(pieces[1:], start=1):
        if _ORGANISATION.search(piece):
            return ", ".join(pieces[:position])
    return segment


def _organisation_name(lines: list[str]) -> str | None:
    """The first name carrying a legal-form suffix, cut right after that suffix."""
    for line in lines:
        for segment in _segments(line):
            if _CONTACT.search(segment):
                continue
            pieces = segment.split(", ")
            for position, piece in enumerate(pieces):
                match = _ORGANISATION.search(piece)
                if match is None:
                    continue
                if match.start() == 0 and position > 0:  # "Acme, Inc."
                    return f"{pieces[position - 1]}, {piece[: match.end()]}"
                return piece[: match.end()]
    return None


def _segments(line: str) -> list[str]:
    """The parts of a line between separators such as ``|``, `` - `` or `` at ``."""
    return _SEGMENT_SEPARATOR.split(line)


def _could_be_company(text: str) -> bool:
    """Whether a short piece of text may name a company."""
    return (
        0 < len(text.split()) <= _MAX_COMPANY_WORDS
        and not _CONTACT.search(text)
        and not _STREET.search(text)
        and not _TITLE_WORDS.search(text)
        and not _SIGN_OFF.match(text)
    )
