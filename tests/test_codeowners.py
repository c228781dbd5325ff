"""CODEOWNERS read as GitHub reads it: the last matching line wins, gitignore patterns."""

from pathlib import Path

import pytest

from bot.codeowners import owners_of, parse_codeowners, read_codeowners, team_name

RULES = """\
# Platform owns everything unless a team says otherwise.
*                       @acme/platform
apps/checkout/          @acme/payments @alice
/apps/web/**/prod       @acme/web
docs/*.md               @acme/docs
apps/shared/*           @acme/shared
[Section with GitLab syntax]
apps/search/            @acme/search   # trailing comment
apps/legacy/
"""


@pytest.mark.parametrize(
    ("path", "owners"),
    [
        ("apps/checkout/overlays/prod/kustomization.yaml", ("@acme/payments", "@alice")),
        ("apps/web/overlays/prod/kustomization.yaml", ("@acme/web",)),
        ("apps/web/overlays/dev/kustomization.yaml", ("@acme/platform",)),
        # A pattern with an inner slash is anchored at the root, as in gitignore.
        ("vendor/apps/checkout/kustomization.yaml", ("@acme/platform",)),
        ("docs/intro.md", ("@acme/docs",)),
        ("docs/deep/intro.md", ("@acme/platform",)),
        # `dir/*` owns the directory's files only.
        ("apps/shared/kustomization.yaml", ("@acme/shared",)),
        ("apps/shared/overlays/prod/kustomization.yaml", ("@acme/platform",)),
        ("apps/search/base/kustomization.yaml", ("@acme/search",)),
        # A later line without owners takes ownership away.
        ("apps/legacy/kustomization.yaml", ()),
    ],
)
def test_the_last_matching_rule_decides(path: str, owners: tuple[str, ...]) -> None:
    assert owners_of(parse_codeowners(RULES), path) == owners


def test_team_names_drop_the_org_and_the_at_sign() -> None:
    assert team_name("@acme/payments") == "payments"
    assert team_name("@alice") == "alice"
    assert team_name("alice@acme.example") == "alice"


def test_the_file_is_found_where_the_forges_look_first(tmp_path: Path) -> None:
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "CODEOWNERS").write_text("* @acme/first\n")
    (tmp_path / "CODEOWNERS").write_text("* @acme/second\n")
    assert owners_of(read_codeowners(tmp_path), "a/b.yaml") == ("@acme/first",)
    assert read_codeowners(tmp_path / "nowhere") == []
