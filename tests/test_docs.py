"""The README and docs/: links that lead somewhere, a README a user can read, and cards that keep figures, not essays.

Issue 48: the README is for users (at most 250 lines, starting with the two commands), the history of each shipped
model lives in docs/models/<id>.md, and every relative link in README.md and docs/ points at a file that exists (and,
for a link into a Markdown heading, at a heading that exists); bench/README.md too.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
MARKDOWN = [README, REPO / "bench" / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
SHIPPED = sorted(p.parent for p in (REPO / "checkpoints").glob("*/card.json"))

# [text](target) and ![alt](target); the target ends at the first space or closing parenthesis
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text())  # a link-like string in a code block is code, not a link
    return LINK.findall(text)


def heading_anchors(path: Path) -> set[str]:
    """GitHub's anchors for a Markdown file's headings: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            text = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_at_something_that_exists(path):
    broken = []
    for target in links(path):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("//"):
            continue  # https:, mailto: ... : not a file of this repository
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target} (no {dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest})")
        elif not dest.resolve().is_relative_to(REPO):
            broken.append(f"{target} (outside the repository)")
        elif anchor and dest.suffix == ".md" and anchor not in heading_anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.relative_to(REPO)})")
    assert not broken, f"{path.relative_to(REPO)} has broken links: " + "; ".join(broken)


def test_the_link_checker_catches_a_broken_link_and_a_missing_heading(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Top\n\n[ok](#top) [gone](missing.md) [bad](#nowhere)\n\n```\n[in code](ignored.md)\n```\n")
    assert links(page) == ["#top", "missing.md", "#nowhere"]
    assert heading_anchors(page) == {"top"}
    assert heading_anchors(README) >= {"shipped-models", "more-than-one-machine", "layout"}


def test_the_readme_is_a_user_s_readme():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; the history and long explanations belong in docs/"
    # it starts (after the title) with the two commands: one runs the app, the other the tests
    body = [line for line in lines[1:] if line.strip()]
    assert body[0] == body[3] == "```bash" and body[2] == body[5] == "```", "the README must start with two commands"
    run_app, run_tests = body[1], body[4]
    assert "streamlit run app.py" in run_app and "pip install" in run_app
    assert "scripts/test.sh" in run_tests, "the test command is the one CI runs"
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()
    for heading in ("## Pages", "## Shipped models", "## Train one model", "## Running it for others", "## Layout",
                    "## More than one machine"):
        assert any(line.startswith(heading) for line in lines), f"README.md has no section {heading!r}"
    assert "git clone --depth 1" in README.read_text()


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_each_shipped_model_has_its_history_page_and_its_card_keeps_no_essay(folder):
    card = json.loads((folder / "card.json").read_text())
    doc = card["training"].get("history_doc")
    assert doc == f"docs/models/{card['id']}.md" and (REPO / doc).is_file(), f"{folder.name}: history_doc {doc!r}"
    assert f"(docs/models/{card['id']}.md)" in README.read_text(), "the README links every model's page"
    moved = [k for k in ("selection", "previous_model", "earlier_attempts", "later_attempts") if k in card["training"]]
    assert not moved, f"{folder.name}: history belongs in {doc}, not the card: {moved}"

    def long_texts(value, where):
        if isinstance(value, str) and len(value) > 400:
            yield where
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from long_texts(item, f"{where}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                yield from long_texts(item, f"{where}[{i}]")

    essays = [w for w in long_texts({k: v for k, v in card.items() if k != "description"}, "card")]
    assert not essays, f"{folder.name}: text over 400 characters belongs in {doc}: {essays}"


def test_the_layout_names_every_folder_and_module():
    """The README's Layout section names each top-level folder in git and each module of ganmodels/ and ui/, so a
    folder or module added or moved without a line there is caught."""
    text = README.read_text()
    layout = text[text.index("## Layout"):].split("\n## ", 1)[0]
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the tracked folders are unknown")
    folders = sorted({path.split("/")[0] for path in listed.stdout.splitlines() if "/" in path})
    missing = [f"{name}/" for name in folders if f"`{name}/" not in layout]
    for package in ("ganmodels", "ui"):
        missing += [f"{package}/{p.name}" for p in sorted((REPO / package).glob("*.py"))
                    if p.name != "__init__.py" and f"`{p.name}`" not in layout]
    assert not missing, "README.md's Layout section does not name: " + ", ".join(missing)
