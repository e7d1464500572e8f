"""The dialog's Help button: the docs rendered as HTML, opened at the algorithm's own
section (processing_algorithms/help_pages.py)."""

from __future__ import annotations

import html
import importlib
import os
import re
import tempfile
from pathlib import Path

import pytest
from helpers import PLUGIN_NAME

pytestmark = pytest.mark.qgis

CRAFTED = """# Title with `code` & more

Intro line one
line two with **bold**, *italic*, _also italic_ and `a <b> & c`.
Text <script>alert(1)</script> & 3 < 4 > 2; snake_case_name stays; 2 * 3 = 6.

## Links [here](other.md#part)

See [the other page](other.md#some-part), [outside](../README.md),
[web](https://example.org/a?b=1&c=2), [bad](javascript:alert) and <https://example.com/x>.

- first item
  continued
  - nested one
  - nested `two`

  second paragraph of the first item
- second item

3. three
4. four **strong**

```python
x = "<script>alert(2)</script>" & 1
# not a heading
```

| name | value | code |
| :--- | ---: | :---: |
| a *b* | 1 | `x \\| y` |
| <script> | 2 | `<i>` |

## Links [here](other.md#part)
"""


@pytest.fixture(scope="module")
def pages(qgis_app):
    return importlib.import_module(f"{PLUGIN_NAME}.processing_algorithms.help_pages")


@pytest.fixture()
def own_temp(tmp_path, monkeypatch):
    """The Help button renders under tempfile.gettempdir(): a fresh one per test."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _rendered(pages, docs: Path):
    """Render CRAFTED as docs/page.md (beside an other.md) and return the body."""
    link = pages._docs_link(str(docs), ["other.md", "page.md"])
    return pages.render_markdown(CRAFTED, link)


def test_the_renderer_on_every_construct(pages, tmp_path):
    body, headings = _rendered(pages, tmp_path)
    assert "<script" not in body and "<b>" not in body and "<i>" not in body
    assert '<h1 id="title-with-code--more">Title with <code>code</code> &amp; more</h1>' in body
    assert [h.anchor for h in headings] == ["title-with-code--more", "links-here", "links-here-1"]
    assert [h.level for h in headings] == [1, 2, 2]
    assert (
        "<p>Intro line one line two with <strong>bold</strong>, <em>italic</em>, "
        "<em>also italic</em> and <code>a &lt;b&gt; &amp; c</code>. Text "
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; 3 &lt; 4 &gt; 2; snake_case_name "
        "stays; 2 * 3 = 6.</p>"
    ) in body
    # relative .md links -> the rendered page; other relative files -> the installed file
    assert '<a href="other.html#some-part">the other page</a>' in body
    readme = (tmp_path.parent / "README.md").as_uri()
    assert f'<a href="{readme}">outside</a>' in body
    assert '<a href="https://example.org/a?b=1&amp;c=2">web</a>' in body
    assert "javascript" not in body and '">web</a>, bad and <a' in body  # text only
    assert '<a href="https://example.com/x">https://example.com/x</a>' in body
    assert '<h2 id="links-here">Links <a href="other.html#part">here</a></h2>' in body
    # lists: one nesting level, a second paragraph, a numbered list that starts at 3
    items = re.sub(r"\s+", "", body[body.index("<ul>") : body.index("<pre>")])
    assert items == re.sub(
        r"\s+",
        "",
        "<ul><li>first item continued<ul><li>nested one</li><li>nested <code>two</code>"
        "</li></ul><p>second paragraph of the first item</p></li><li>second item</li></ul>"
        '<ol start="3"><li>three</li><li>four <strong>strong</strong></li></ol>',
    )
    assert (
        '<pre><code>x = "&lt;script&gt;alert(2)&lt;/script&gt;" &amp; 1\n'
        "# not a heading</code></pre>"
    ) in body
    table = body[body.index("<table>") : body.index("</table>")]
    assert '<th style="text-align:right">value</th>' in table
    assert '<th style="text-align:center">code</th>' in table
    assert "<td>a <em>b</em></td>" in table and "<code>x | y</code>" in table
    assert "<td>&lt;script&gt;</td>" in table and "<code>&lt;i&gt;</code>" in table
    assert table.count("<tr>") == 3


def test_the_page_is_self_contained_with_title_and_version(pages, tmp_path):
    body, _ = _rendered(pages, tmp_path)
    page = pages.html_page("A <title>", body, "9.8.7", "docs/page.md")
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert "<title>A &lt;title&gt; — LCZ mapping</title>" in page
    assert "<style>" in page and "<link" not in page and "<script" not in page
    footer = page[page.index("<footer>") :]
    assert "LCZ mapping plugin 9.8.7" in footer and "docs/page.md" in footer


def _algorithms():
    from qgis.core import QgsApplication

    algs = QgsApplication.processingRegistry().providerById("lcz").algorithms()
    assert len(algs) >= 20
    return algs


def _names(alg) -> list[str]:
    """How docs name an algorithm: its id, and its CLI command where it has one."""
    command = getattr(getattr(alg, "COMMAND", None), "name", "")
    return [alg.id()] + ([f"lcz {command}"] if command else [])


def _section(page_html: str, anchor: str) -> str:
    """The HTML from the heading with id ``anchor`` to the next heading, as text."""
    start = page_html.index(f' id="{anchor}"')
    nxt = re.search(r"<h[1-6][ >]", page_html[start:])
    part = page_html[start : start + nxt.start()] if nxt else page_html[start:]
    return html.unescape(re.sub(r"<[^>]+>", "", part.split(">", 1)[1]))


def _targets(own_temp):
    from qgis.PyQt.QtCore import QUrl

    targets = {}
    for alg in _algorithms():
        url = QUrl(alg.helpUrl())
        assert url.isLocalFile() and url.scheme() == "file", (alg.id(), url.toString())
        page = Path(url.toLocalFile())
        assert page.suffix == ".html" and page.is_file(), (alg.id(), page)
        assert own_temp in page.parents, page  # rendered under the temp folder
        targets[alg.id()] = (page, url.fragment(), alg)
    return targets


def test_every_algorithm_opens_its_own_section(qgis_app, own_temp):
    targets = _targets(own_temp)
    for alg_id, (page, anchor, alg) in targets.items():
        text = page.read_text(encoding="utf-8")
        assert anchor and f' id="{anchor}">' in text, (alg_id, anchor)
        section = _section(text, anchor)
        names = _names(alg)
        pattern = "|".join(re.escape(n) + r"(?![\w-])" for n in names)
        assert re.search(pattern, section), (alg_id, page.name, anchor)
    # no two algorithms share a section (each one has its own in the docs)
    where = [(page.name, anchor) for page, anchor, _ in targets.values()]
    assert len(set(where)) == len(where), sorted(where)
    # the sections a user expects
    expected = {
        "lcz:classifyraster": ("classification.html", "classifying"),
        "lcz:preparesentinel2": ("classification.html", "preparing-sentinel-2"),
        "lcz:trainmodel": ("training_and_evaluation.html", "training"),
        "lcz:evaluatemodel": ("training_and_evaluation.html", "evaluation"),
        "lcz:importpretrained": ("pretrained_models.html", "importing"),
        "lcz:datasetsummary": ("patches_and_products.html", "dataset-summary"),
        "lcz:loadpatches": ("patches_and_products.html", "load-so2sat-patches"),
        "lcz:classifymany": (
            "cluster.html",
            "classifying-many-rasters-on-a-dask-cluster-lcz-classify-many",
        ),
    }
    for alg_id, (page, anchor) in expected.items():
        assert (targets[alg_id][0].name, targets[alg_id][1]) == (page, anchor), alg_id


def test_rendered_pages_hold_no_raw_markdown(qgis_app, own_temp):
    _targets(own_temp)
    folders = {p.parent for p in own_temp.rglob("*.html")}
    assert len(folders) == 1
    rendered = sorted(next(iter(folders)).glob("*.html"))
    docs = Path(importlib.import_module(f"{PLUGIN_NAME}.processing_algorithms.base").DOCS_DIR)
    assert {p.stem for p in rendered} == {p.stem for p in docs.glob("*.md")}
    for page in rendered:
        text = page.read_text(encoding="utf-8")
        assert "<script" not in text, page
        tags = re.findall(r"<(h[1-6]|th|td|p|li)\b[^>]*>(.*?)</\1>", text, re.S)
        assert tags, page
        for tag, inner in tags:
            shown = re.sub(r"<code>.*?</code>", "", inner, flags=re.S)
            shown = re.sub(r"<[^>]+>", "", shown)
            for marker in ("**", "`", "](", "|"):
                if marker == "|" and tag in ("p", "li"):
                    continue  # prose may say "a|b"; a table's cells never show one
                assert marker not in shown, (page.name, tag, marker, shown[:200])
            if tag.startswith("h"):
                assert not shown.lstrip().startswith("#"), (page.name, shown)
        assert not re.search(
            r"^\s*\|.*\|\s*$", re.sub(r"<pre>.*?</pre>", "", text, flags=re.S), re.M
        )


def test_rendered_once_and_again_when_a_page_changes(pages, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tools.md").write_text("# Tools\n\n## Alpha (`lcz:alpha`)\n\nFirst text.\n")
    folder = tmp_path / "help"
    url = pages.help_url("lcz:alpha", "", "", str(docs), str(folder))
    assert url == (folder / "tools.html").as_uri() + "#alpha-lczalpha"
    page = folder / "tools.html"
    first = page.stat().st_mtime_ns
    assert "First text." in page.read_text()
    pages.help_url("lcz:alpha", "", "", str(docs), str(folder))
    assert page.stat().st_mtime_ns == first  # not rendered again
    (docs / "tools.md").write_text("# Tools\n\n## Alpha (`lcz:alpha`)\n\nSecond text.\n")
    later = page.stat().st_mtime + 10
    os.utime(docs / "tools.md", (later, later))
    pages.help_url("lcz:alpha", "", "", str(docs), str(folder))
    assert "Second text." in page.read_text()
    assert not [p for p in folder.iterdir() if p.name != "tools.html"]  # no temporaries


def test_a_folder_that_is_a_link_is_not_written_into(pages, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tools.md").write_text("# Tools\n\n## Alpha (`lcz:alpha`)\n\nText.\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "help"
    link.symlink_to(elsewhere)
    url = pages.help_url("lcz:alpha", "", "", str(docs), str(link))
    assert url == (docs / "tools.md").resolve().as_uri()  # the Markdown, not a failure
    assert not list(elsewhere.iterdir())
