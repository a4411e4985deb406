"""Turn mail bytes into text: charset decoding, RFC 2047 encoded words, and HTML to text."""

import codecs
import re
from email.errors import HeaderParseError
from email.header import decode_header
from functools import lru_cache
from html.parser import HTMLParser

# --- charsets ----------------------------------------------------------------------------------

# Single-byte charsets decode any bytes, so a mislabelled UTF-8 body would silently turn into
# mojibake; valid UTF-8 wins over these declarations.
_ANY_BYTES_CHARSETS = frozenset({"iso8859-1", "iso8859-15", "cp1252"})
_REAL_NON_ASCII = re.compile(r"[^\x00-\x7f\ufffd]")


@lru_cache(maxsize=256)
def _codec_name(charset: str | None) -> str | None:
    """Python's name for a declared charset, or None if unknown."""
    if not charset:
        return None
    try:
        return codecs.lookup(charset.strip().strip("\"'")).name
    except (LookupError, ValueError):
        return None


# Codecs that turn escapes in the data into arbitrary characters: no mail is written in them.
_ESCAPE_CODECS = frozenset({"unicode-escape", "raw-unicode-escape"})
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _try_decode(data: bytes, codec: str) -> str | None:
    """The data decoded strictly with the codec, or None if it does not fit.

    Text no database can store (a lone surrogate, as UTF-7 can produce) does not fit.
    """
    if codec in _ESCAPE_CODECS or not codecs.lookup(codec)._is_text_encoding:
        return None
    try:
        text = data.decode(codec)
    except (LookupError, UnicodeError):
        return None
    return None if _SURROGATE.search(text) else text


def decode_bytes(data: bytes, charset: str | None) -> str:
    r"""Decode with the declared charset, else UTF-8, else Windows-1252/Latin-1; never fails.

    >>> decode_bytes("café".encode(), "iso-8859-1"), decode_bytes(b"caf\xe9", "utf-8")
    ('café', 'café')
    >>> decode_bytes("naïve café".encode()[:-1], "x-unknown") == "naïve caf\ufffd"
    True
    """
    codec = _codec_name(charset)
    if codec in _ANY_BYTES_CHARSETS and (text := _try_decode(data, "utf-8")) is not None:
        return text
    if codec and (text := _try_decode(data, codec)) is not None:
        return text
    if (text := _try_decode(data, "utf-8")) is not None:
        return text
    lenient = data.decode("utf-8", "replace")
    if _REAL_NON_ASCII.search(lenient):  # mostly UTF-8 with a few damaged bytes
        return lenient
    return _try_decode(data, "cp1252") or data.decode("latin-1")


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words.

    >>> decode_words("=?utf-8?q?Caf=C3=A9?= time")
    'Café time'
    """
    if "=?" not in text:
        return text
    parts: list[str] = []
    position, after_word = 0, False
    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        if not (after_word and not between.strip()):  # space between two words is dropped
            parts.append(between)
        parts.append(_decode_word(match[0]))
        position, after_word = match.end(), True
    parts.append(text[position:])
    return "".join(parts)


_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def _decode_word(word: str) -> str:
    """One encoded word; the text around words is never touched (a literal ``\\u00e9`` stays)."""
    try:
        ((chunk, charset),) = decode_header(word)
    except (HeaderParseError, ValueError):
        return word
    return decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk


def collapse(text: str) -> str:
    """The text on one line, with runs of whitespace reduced to single spaces."""
    return " ".join(text.split())


# --- HTML to text ------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "caption", "dd", "div", "dl", "dt"),
        *("fieldset", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header"),
        *("hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "thead"),
        *("tfoot", "tr", "ul"),
    }
)
_HIDDEN_TAGS = frozenset({"head", "script", "style", "template", "title"})
_WHITESPACE = re.compile(r"[^\S\xa0]+")  # a no-break space is content: "<p>&nbsp;</p>" is a gap


class _HtmlToText(HTMLParser):
    """Collects visible text line by line; blockquote content gets a ``> `` prefix."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._line_quote_depth = 0
        self._quote_depth = 0
        self._hidden_depth = 0
        self._pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden_depth += 1
        elif tag == "br":
            self.end_line(keep_blank=True)
        elif tag in _BLOCK_TAGS:
            self.end_line()
            if tag == "blockquote":
                self._quote_depth += 1
            elif tag == "pre":
                self._pre_depth += 1
            elif tag == "li":
                self._add("- ")
        elif tag in ("td", "th"):
            self._add(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.end_line()
            if tag == "blockquote":
                self._quote_depth = max(0, self._quote_depth - 1)
            elif tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._hidden_depth:
            return
        if not self._pre_depth:
            self._add(_WHITESPACE.sub(" ", data))
            return
        first, *rest = data.split("\n")
        self._add(first)
        for line in rest:
            self.end_line(keep_blank=True)
            self._add(line)

    def _add(self, text: str) -> None:
        if text:
            self._line.append(text)
            self._line_quote_depth = max(self._line_quote_depth, self._quote_depth)

    def end_line(self, *, keep_blank: bool = False) -> None:
        """Finish the current line; empty lines are kept only where the markup asks for one."""
        raw = "".join(self._line)
        text = raw.replace("\xa0", " ").strip()
        if text or keep_blank or "\xa0" in raw:
            self.lines.append("> " * self._line_quote_depth + text)
        self._line = []
        self._line_quote_depth = self._quote_depth


def html_to_text(html: str) -> str:
    r"""Visible text of an HTML body; quoted (blockquote) lines are prefixed with ``> ``.

    >>> html_to_text("<p>Hi&nbsp;Bob,</p><p>&nbsp;</p><div>See <b>you</b><br>soon</div>"
    ...              "<blockquote>old</blockquote><style>p {}</style>")
    'Hi Bob,\n\nSee you\nsoon\n> old'
    """
    parser = _HtmlToText()
    try:
        parser.feed(html)
        parser.close()
    except AssertionError:  # html.parser rejects some malformed declarations; keep what was read
        pass
    parser.end_line()
    return "\n".join(parser.lines)
