"""Text from repositories and data, made inert in Markdown that GitHub and GitLab render.

A workload's name, a policy's freeze reason, a committer's name or a cost export's column
end up in PR bodies, comments and Check Runs. Unescaped, they can add links, images, HTML,
table cells or `@` mentions that notify people, or close the bot's own markup. These
functions are applied where the text meets Markdown (the templates' autoescape, comments),
so the decisions keep plain text and the CLI and the dashboard show it unchanged.
"""

from __future__ import annotations

import re

from markupsafe import Markup

_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
_BACKTICKS = re.compile(r"`+")
_PUNCTUATION = re.compile(r"[\\*_\[\]~|`]")
"""Marks that start emphasis, links and images, strikethrough, table cells, code or escapes."""
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
"""HTML: tags, entities and autolinks (`<https://...>`). Quotes need nothing outside
attributes, and none of this text goes into one."""
_REFERENCES = re.compile(r"([@#])(?=[\w-])")
"""`@name` notifies a person or a team, `#12` and `org/repo#12` cross-reference an issue
(and leave a mark on it). A zero-width space after the sign keeps the text as written
without the link, as Renovate does for release notes."""
_ZERO_WIDTH_SPACE = "&#8203;"


def inert(text: str) -> Markup:
    """`text` as it reads, on one line, with nothing Markdown or HTML would act on. Code
    spans it holds (balanced backticks, as a rule's text names a file) stay code spans:
    nothing inside one is interpreted, and it cannot end early."""
    text = _LINE_BREAKS.sub(" ", text)
    out, at = [], 0
    for run in _BACKTICKS.finditer(text):
        if run.start() < at:
            continue
        closing = _closing_run(text, run)
        if closing is None:
            continue
        out.append(_plain(text[at : run.start()]))
        out.append(text[run.start() : closing].replace("|", "\\|"))  # GFM splits cells on |
        at = closing
    out.append(_plain(text[at:]))
    return Markup("".join(out))


def code(text: str) -> Markup:
    """`text` as an inline code span, whatever backticks it holds: the fence is one
    backtick longer than the longest run inside, as CommonMark allows."""
    text = _LINE_BREAKS.sub(" ", text).replace("|", "\\|")
    longest = max((len(r) for r in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return Markup(f"{fence}{pad}{text}{pad}{fence}")


def html_text(text: str) -> Markup:
    """`text` inside an HTML block (a `<summary>`), where Markdown is not read: HTML's marks
    escaped, mentions and references kept from linking, on one line."""
    text = "".join(_ENTITIES.get(c, c) for c in _LINE_BREAKS.sub(" ", text))
    return Markup(_REFERENCES.sub(lambda m: m.group(1) + _ZERO_WIDTH_SPACE, text))


def _closing_run(text: str, opening: re.Match[str]) -> int | None:
    """Where the code span that `opening` starts ends: after the next backtick run of the
    same length (CommonMark), or None when there is none and the backticks are literal."""
    for run in _BACKTICKS.finditer(text, opening.end()):
        if len(run.group()) == len(opening.group()):
            return run.end()
    return None


def _plain(text: str) -> str:
    text = _PUNCTUATION.sub(lambda m: "\\" + m.group(), text)
    text = "".join(_ENTITIES.get(c, c) for c in text)
    return _REFERENCES.sub(lambda m: m.group(1) + _ZERO_WIDTH_SPACE, text)
