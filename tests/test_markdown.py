"""Text from repositories and data is inert where it meets Markdown: checked with a real
CommonMark parser (markdown-it-py, GFM tables on), not by looking for characters."""

from __future__ import annotations

from html import unescape

import pytest
from markdown_it import MarkdownIt

from bot.markdown import code, inert

PARSER = MarkdownIt("commonmark").enable("table")
HOSTILE = [
    "[click](https://evil.example)",
    "![pixel](https://evil.example/p.png)",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "<https://evil.example>",
    "**bold** _em_ ~~gone~~",
    "a | b | c",
    "line one\n# heading\n- item",
    "`unbalanced code",
    "\\[escaped\\](x)",
    "&lt;not an entity&gt;",
]


def _inline_html(markdown: str) -> str:
    return PARSER.render(markdown)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_renders_as_the_same_words_and_no_markup(text):
    html = _inline_html(f"before {inert(text)} after")
    assert html.startswith("<p>before ") and html.count("<p>") == 1
    for tag in ("<a ", "<img", "<script", "<strong", "<em", "<h1", "<li", "<code", "<del"):
        assert tag not in html, (text, html)


def test_mentions_and_issue_references_are_broken_but_read_the_same():
    html = _inline_html(inert("ask @acme/platform-team about #12 and org/repo#34"))
    assert "@acme" not in html and "#12" not in html and "repo#34" not in html
    read = html.replace("\u200b", "")
    assert read == "<p>ask @acme/platform-team about #12 and org/repo#34</p>\n"


def test_a_code_span_in_a_rule_text_stays_one_and_cannot_end_early():
    html = _inline_html(inert("written to `overlays/prod/patch.yaml` by **rule**"))
    assert "<code>overlays/prod/patch.yaml</code>" in html
    assert "<strong>" not in html


def test_a_table_cell_keeps_its_place_whatever_the_text():
    rows = [f"| {inert(text)} | {code(text)} |" for text in HOSTILE]
    html = PARSER.render("| text | code |\n| --- | --- |\n" + "\n".join(rows) + "\n")
    assert html.count("<tr>") == len(HOSTILE) + 1
    assert html.count("<td>") == 2 * len(HOSTILE)


@pytest.mark.parametrize("text", ["a`b", "``x``", "`", "ends with `", "plain"])
def test_code_holds_any_backticks_in_one_span(text):
    html = _inline_html(f"x {code(text)} y")
    assert html.count("<code>") == 1
    assert unescape(html.split("<code>")[1].split("</code>")[0]) == text
