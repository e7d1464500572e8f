"""The dialog's Help button: the plugin's ``docs/*.md`` pages as HTML, at the algorithm's
own section.

QGIS opens ``helpUrl()`` in the browser, which shows a Markdown file as raw text; so the
pages are rendered here (a small Markdown subset, no dependency: python-markdown is not
in every QGIS's Python) into a folder of their own, once per plugin version and again
when a page changed (by mtime), each file written atomically. The URL points at the
section that documents the algorithm: the one whose heading names it (``lcz:<name>`` or
``lcz <command>``), else the section whose text names it most exclusively. The folder
is ``<temp>/lcz_mapping_help_<version>_<uid>``; one that is a link or another user's is
not written into (the Markdown page opens instead).

The Markdown read: ATX headings (ids: GitHub's slugs, so ``page.md#anchor`` links keep
working), paragraphs, bullet and numbered lists (one nesting level), fenced code, pipe
tables, ```code```, ``**bold**``, ``*italic*``, ``[links](x)`` (``.md`` pages of the docs
become their ``.html``; other relative links point at the installed file) and
``<https://...>``. Everything else is text: ``<``, ``>`` and ``&`` are always escaped,
so no page can carry markup or script of its own. No qgis import here.
"""

from __future__ import annotations

import functools
import html
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..lcz_qgis import __version__
from ..lcz_qgis.common.atomic import write_text_atomic
from ..lcz_qgis.common.errors import LczError

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS_DIR = os.path.join(PLUGIN_DIR, "docs")
PLUGIN_NAME = "LCZ mapping"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;line-height:1.5;color:#222;
max-width:52em;margin:1.5em auto;padding:0 1em}
h1,h2,h3,h4{line-height:1.25;margin:1.4em 0 .5em} h1{font-size:1.6em}
h2{font-size:1.3em;border-bottom:1px solid #ddd;padding-bottom:.2em} h3{font-size:1.1em}
code{font-family:ui-monospace,Consolas,monospace;font-size:.9em;background:#f3f3f3;
padding:.05em .25em;border-radius:3px}
pre{background:#f6f6f6;border:1px solid #e3e3e3;padding:.7em;overflow-x:auto}
pre code{background:none;padding:0}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .6em;vertical-align:top} th{background:#f0f0f0}
:target{background:#fff8d6} a{color:#0b5cad}
footer{margin-top:3em;border-top:1px solid #ddd;padding-top:.5em;color:#666;font-size:.85em}
"""

# -- inline text ----------------------------------------------------------------------

_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^<>\s]+)>")
_LINK = re.compile(r"\[([^\[\]]+)\]\(([^()\s]+)\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_ITALIC_UNDERSCORE = re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])")
_SLOT = re.compile("\x00(\\d+)\x00")
_SAFE_SCHEMES = ("http:", "https:", "mailto:", "file:")


def _emphasis(escaped: str) -> str:
    """``**bold**``, ``__bold__``, ``*italic*`` and ``_italic_`` in escaped text."""
    escaped = _BOLD.sub(r"<strong>\2</strong>", escaped)
    escaped = _ITALIC.sub(r"<em>\1</em>", escaped)
    return _ITALIC_UNDERSCORE.sub(r"<em>\1</em>", escaped)


def inline(text: str, link=None) -> str:
    """One block's text as HTML: code spans, links, emphasis; everything else escaped.

    ``link(url)`` gives the href of a ``[text](url)`` link (None: the text only)."""
    slots: list[str] = []

    def keep(fragment: str) -> str:
        slots.append(fragment)
        return f"\x00{len(slots) - 1}\x00"

    def code(m):
        return keep(f"<code>{html.escape(m.group(2).strip(), quote=False)}</code>")

    def autolink(m):
        url = html.escape(m.group(1))
        return keep(f'<a href="{url}">{url}</a>')

    def hyperlink(m):
        href = (link or _plain_link)(m.group(2))
        label = _emphasis(html.escape(m.group(1), quote=False))
        return keep(f'<a href="{html.escape(href)}">{label}</a>' if href else label)

    text = _CODE_SPAN.sub(code, text.replace("\x00", ""))
    text = _AUTOLINK.sub(autolink, text)
    text = _LINK.sub(hyperlink, text)
    text = _emphasis(html.escape(text, quote=False))
    while _SLOT.search(text):
        text = _SLOT.sub(lambda m: slots[int(m.group(1))], text)
    return text


def _plain_link(url: str) -> str | None:
    """A link target kept as written, unless its scheme could run something."""
    scheme = re.match(r"^([A-Za-z][\w+.-]*:)", url)
    return None if scheme and scheme.group(1).lower() not in _SAFE_SCHEMES else url


def plain(text: str) -> str:
    """A heading's text without Markdown: link text kept, code and emphasis marks gone."""
    text = _LINK.sub(r"\1", text)
    return re.sub(r"`+|\*\*|(?<!\w)\*|\*(?!\w)", "", text).strip()


def slug(text: str) -> str:
    """GitHub's id for a heading: lower case, punctuation dropped, spaces -> '-'."""
    s = re.sub(r"[^\w\- ]", "", plain(text).lower())
    return s.replace(" ", "-") or "section"


# -- blocks ---------------------------------------------------------------------------

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ITEM = re.compile(r"^( *)([-*+]|\d{1,9}[.)])[ \t]+(.*)$")
_TABLE_RULE = re.compile(r"^ *\|? *:?-+:? *(\| *:?-+:? *)*\|? *$")


@dataclass(frozen=True)
class Heading:
    """A heading of a page: its level, Markdown text, id and line (0-based)."""

    level: int
    text: str
    anchor: str
    line: int


def _is_table(lines: list[str], i: int) -> bool:
    return (
        "|" in lines[i]
        and i + 1 < len(lines)
        and "|" in lines[i + 1]
        and bool(_TABLE_RULE.match(lines[i + 1]))
    )


def _starts_block(lines: list[str], i: int) -> bool:
    """Whether line ``i`` begins a heading, fence, table or list (ends a paragraph)."""
    line = lines[i]
    item = _ITEM.match(line)
    return bool(
        _HEADING.match(line)
        or _FENCE.match(line)
        or _is_table(lines, i)
        or (item and (not item.group(2)[0].isdigit() or item.group(2)[:-1] == "1"))
    )


def _cells(line: str) -> list[str]:
    """A table row's cells: split at '|' outside code spans, ``\\|`` kept as '|'."""
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    cells, current, in_code, k = [], [], False, 0
    while k < len(line):
        ch = line[k]
        if ch == "\\" and line[k + 1 : k + 2] == "|":
            current.append("|")
            k += 2
            continue
        in_code = not in_code if ch == "`" else in_code
        if ch == "|" and not in_code:
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        k += 1
    return cells + ["".join(current).strip()]


def _table(lines: list[str], i: int, out: list[str], link) -> int:
    """A pipe table from line ``i``; returns the line after it."""
    aligns = []
    for rule in _cells(lines[i + 1]):
        left, right = rule.startswith(":"), rule.endswith(":")
        aligns.append("center" if left and right else "right" if right else "")
    rows = [lines[i]]
    i += 2
    while i < len(lines) and lines[i].strip() and "|" in lines[i]:
        rows.append(lines[i])
        i += 1
    out.append("<table>")
    for r, row in enumerate(rows):
        tag = "th" if r == 0 else "td"
        cells = _cells(row)
        cells += [""] * (len(aligns) - len(cells))
        html_cells = []
        for c, cell in enumerate(cells[: max(len(aligns), 1)]):
            align = aligns[c] if c < len(aligns) else ""
            style = f' style="text-align:{align}"' if align else ""
            html_cells.append(f"<{tag}{style}>{inline(cell, link)}</{tag}>")
        out.append(f"<tr>{''.join(html_cells)}</tr>")
    out.append("</table>")
    return i


def _fence(lines: list[str], i: int, out: list[str]) -> int:
    """A fenced code block from line ``i``; returns the line after its closing fence."""
    mark = _FENCE.match(lines[i]).group(1)
    body = []
    i += 1
    while i < len(lines) and not lines[i].lstrip().startswith(mark):
        body.append(lines[i])
        i += 1
    out.append(f"<pre><code>{html.escape(chr(10).join(body), quote=False)}</code></pre>")
    return i + 1


def _list_items(lines: list[str], i: int) -> tuple[list[tuple[int, str, list[str]]], int]:
    """The list starting at line ``i`` as (indent, marker, text lines); marker '' is a
    further paragraph of the item at that indent (text indented under it after a blank
    line). Returns them and the line after the list."""
    items: list[tuple[int, str, list[str]]] = []
    content = 0  # where the text of the last item starts
    blank = False
    while i < len(lines):
        line = lines[i]
        item = _ITEM.match(line)
        if item:
            items.append((len(item.group(1)), item.group(2), [item.group(3)]))
            content = len(line) - len(item.group(3))
        elif not line.strip():
            blank = True
            i += 1
            continue
        elif blank and not line.startswith("  ") or _starts_block(lines, i):
            break
        elif blank:
            indent = len(line) - len(line.lstrip())
            at = items[-1][0] if indent >= content else items[0][0]
            items.append((at, "", [line.strip()]))
            content = indent
        else:
            items[-1][2].append(line.strip())
        blank = False
        i += 1
    while i > 0 and not lines[i - 1].strip():
        i -= 1
    return items, i


def _list(lines: list[str], i: int, out: list[str], link) -> int:
    """A bullet or numbered list (one nesting level) from line ``i``."""
    items, i = _list_items(lines, i)
    base = items[0][0]
    top: str | None = None  # the open lists' tags; the last <li> of each is open
    sub: str | None = None
    for indent, marker, text in items:
        body = inline(" ".join(text), link)
        nested = indent >= base + 2 and top is not None
        if sub and not nested:
            out.append(f"</li></{sub}>")
            sub = None
        if not marker:  # another paragraph of the open item
            out.append(f"<p>{body}</p>")
            continue
        tag = "ol" if marker[0].isdigit() else "ul"
        start = marker[:-1] if tag == "ol" and marker[:-1] != "1" else ""
        opening = f'<{tag} start="{int(start)}">' if start else f"<{tag}>"
        if nested:
            out.append("</li>" if sub == tag else (f"</li></{sub}>" if sub else "") + opening)
            sub = tag
        else:
            out.append("</li>" if top == tag else (f"</li></{top}>" if top else "") + opening)
            top = tag
        out.append(f"<li>{body}")
    out.append((f"</li></{sub}>" if sub else "") + f"</li></{top}>")
    return i


def _paragraph(lines: list[str], i: int, out: list[str], link) -> int:
    """A paragraph from line ``i`` up to a blank line or the start of another block."""
    text = [lines[i].strip()]
    i += 1
    while i < len(lines) and lines[i].strip() and not _starts_block(lines, i):
        text.append(lines[i].strip())
        i += 1
    out.append(f"<p>{inline(' '.join(text), link)}</p>")
    return i


def render_markdown(text: str, link=None) -> tuple[str, list[Heading]]:
    """Markdown -> (HTML body, its headings). ``link`` as for ``inline``."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    headings: list[Heading] = []
    seen: dict[str, int] = {}
    i = 0
    while i < len(lines):
        heading = _HEADING.match(lines[i])
        if not lines[i].strip():
            i += 1
        elif _FENCE.match(lines[i]):
            i = _fence(lines, i, out)
        elif heading:
            level, anchor = len(heading.group(1)), slug(heading.group(2))
            n = seen.get(anchor, 0)
            seen[anchor] = n + 1
            anchor = f"{anchor}-{n}" if n else anchor
            headings.append(Heading(level, heading.group(2), anchor, i))
            out.append(f'<h{level} id="{anchor}">{inline(heading.group(2), link)}</h{level}>')
            i += 1
        elif _is_table(lines, i):
            i = _table(lines, i, out, link)
        elif _ITEM.match(lines[i]):
            i = _list(lines, i, out, link)
        else:
            i = _paragraph(lines, i, out, link)
    return "\n".join(part for part in out if part), headings


def html_page(title: str, body: str, version: str = __version__, source: str = "") -> str:
    """A self-contained page: ``body`` with a title, the CSS and the plugin's version."""
    shown = html.escape(title, quote=False)
    origin = f" · {html.escape(source, quote=False)}" if source else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{shown} — {PLUGIN_NAME}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<main>\n{body}\n</main>\n<footer>{PLUGIN_NAME} plugin "
        f"{html.escape(version, quote=False)}{origin}</footer>\n</body>\n</html>\n"
    )


# -- the docs pages -------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """A heading of a docs page with the Markdown up to the next heading."""

    page: str  # the .md file name
    anchor: str
    heading: str
    text: str


def docs_pages(docs_dir: str = DOCS_DIR) -> list[str]:
    """The ``.md`` file names of the docs folder, sorted ([] when it is missing)."""
    try:
        return sorted(n for n in os.listdir(docs_dir) if n.endswith(".md"))
    except OSError:
        return []


def _docs_link(docs_dir: str, names: list[str]):
    """The ``link`` of a docs page: a docs ``.md`` -> its ``.html`` in the same folder,
    another relative target -> the installed file (file://), unsafe schemes dropped."""

    def link(url: str) -> str | None:
        if url.startswith("#") or re.match(r"^[A-Za-z][\w+.-]*:", url):
            return _plain_link(url)
        path, hash_, fragment = url.partition("#")
        target = os.path.normpath(os.path.join(docs_dir, path))
        if os.path.dirname(target) == os.path.normpath(docs_dir) and path.endswith(".md"):
            if os.path.basename(target) in names:
                return os.path.basename(target)[:-3] + ".html" + hash_ + fragment
        return Path(target).as_uri() + hash_ + fragment

    return link


@functools.lru_cache(maxsize=64)
def _parsed(path: str, mtime: float, names: tuple[str, ...]):
    """(HTML body, headings, source lines) of one page; cached while its mtime holds."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    body, headings = render_markdown(text, _docs_link(os.path.dirname(path), list(names)))
    return body, headings, text.replace("\r\n", "\n").split("\n")


def _page(docs_dir: str, name: str, names: list[str]):
    path = os.path.join(docs_dir, name)
    return _parsed(path, os.path.getmtime(path), tuple(names))


def page_sections(docs_dir: str = DOCS_DIR) -> list[Section]:
    """Every section of every docs page, in page and then document order."""
    names = docs_pages(docs_dir)
    sections = []
    for name in names:
        _, headings, lines = _page(docs_dir, name, names)
        ends = [h.line for h in headings[1:]] + [len(lines)]
        for h, end in zip(headings, ends):
            text = "\n".join(lines[h.line + 1 : end])
            sections.append(Section(name, h.anchor, h.text, text))
    return sections


# -- which section documents an algorithm ---------------------------------------------


@functools.cache
def _commands() -> tuple[str, ...]:
    """The CLI names of every declared command (``lcz --help``)."""
    from ..lcz_qgis.commands import all_commands

    return tuple(c.name for c in all_commands())


def _naming(alg_id: str, command: str = "") -> re.Pattern:
    """Mentions of ``alg_id`` (``lcz:name``) or of ``lcz <command>``."""
    names = [r"(?<![\w:])" + re.escape(alg_id) + r"(?!\w)"]
    if command:
        names.append(r"(?<![\w-])lcz " + re.escape(command) + r"(?![\w-])")
    return re.compile("|".join(names))


@functools.cache
def _any_algorithm() -> re.Pattern:
    """Mentions of any algorithm id or declared command."""
    commands = "|".join(re.escape(c) for c in sorted(_commands(), key=len, reverse=True))
    return re.compile(r"(?<![\w:])lcz:\w+|(?<![\w-])lcz (?:" + commands + r")(?![\w-])")


def _lead(text: str) -> str:
    """A section's first paragraph or example (code block); '' when it opens with a
    list or a table (those hold details, not what the section is about)."""
    lines = text.strip().split("\n")
    if _FENCE.match(lines[0]):
        end = next((k for k in range(1, len(lines)) if _FENCE.match(lines[k])), len(lines))
        return "\n".join(lines[: end + 1])
    first = "\n".join(lines).split("\n\n", 1)[0]
    return "" if _ITEM.match(lines[0]) or _is_table(lines, 0) else first


def find_section(alg_id: str, command: str = "", group_page: str = "", docs_dir: str = DOCS_DIR):
    """The section that documents ``alg_id`` (CLI ``command``), None if no section names it.

    Ranked by: its heading names the algorithm; its first paragraph (or example) names
    it and no other; the share of the section's algorithm mentions that are of this one
    (a section about it, not a table of them all); how often it names it; on
    ``group_page``; first in page order.
    """
    own, everything = _naming(alg_id, command), _any_algorithm()
    best, best_key = None, None
    sections = page_sections(docs_dir)
    for order, s in enumerate(sections):
        text = s.heading + "\n" + s.text
        mine = len(own.findall(text))
        if not mine:
            continue
        share = mine / max(mine, len(everything.findall(text)))
        lead = _lead(s.text)
        lead_is_mine = len(own.findall(lead)) == len(everything.findall(lead)) > 0
        key = (bool(own.search(s.heading)), lead_is_mine, share, mine)
        key += (s.page == group_page, -order)
        if best_key is None or key > best_key:
            best, best_key = s, key
    return best


def default_folder(version: str = __version__) -> str:
    """Where the pages are rendered: ``<temp>/lcz_mapping_help_<version>`` (per user)."""
    user = f"_{os.getuid()}" if hasattr(os, "getuid") else ""
    return os.path.join(tempfile.gettempdir(), f"lcz_mapping_help_{version}{user}")


def _own_folder(folder: str) -> None:
    """Create ``folder``; refuse one that is a link or, on POSIX, another user's (its pages
    could have been written by them)."""
    os.makedirs(folder, mode=0o755, exist_ok=True)
    info = os.lstat(folder)
    if os.path.islink(folder) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        raise LczError(f"{folder} is not this user's folder")


def render_docs(folder: str, docs_dir: str = DOCS_DIR, version: str = __version__) -> None:
    """Render every docs page to ``folder/<page>.html``, skipping pages already rendered
    since both the page and this module last changed. Each file is written atomically."""
    _own_folder(folder)
    names = docs_pages(docs_dir)
    newest_code = os.path.getmtime(__file__)
    for name in names:
        source = os.path.join(docs_dir, name)
        target = os.path.join(folder, name[:-3] + ".html")
        try:
            if os.path.getmtime(target) >= max(os.path.getmtime(source), newest_code):
                continue
        except OSError:
            pass  # not rendered yet
        body, headings, _ = _page(docs_dir, name, names)
        title = plain(headings[0].text) if headings else name[:-3]
        write_text_atomic(target, html_page(title, body, version, f"docs/{name}"))


def help_url(
    alg_id: str,
    command: str = "",
    group_page: str = "",
    docs_dir: str = DOCS_DIR,
    folder: str | None = None,
) -> str:
    """The file:// URL of the rendered page, at the section documenting ``alg_id``.

    Without a section naming it: the top of ``group_page``. When the pages cannot be
    written (a read-only or foreign folder), the Markdown page itself; '' without docs.
    """
    names = docs_pages(docs_dir)
    if not names:
        return ""
    section = find_section(alg_id, command, group_page, docs_dir)
    page = section.page if section else group_page if group_page in names else names[0]
    anchor = section.anchor if section else ""
    try:
        folder = folder or default_folder()
        render_docs(folder, docs_dir)
    except (OSError, LczError):
        return Path(docs_dir, page).resolve().as_uri()
    url = Path(folder, page[:-3] + ".html").resolve().as_uri()
    return f"{url}#{anchor}" if anchor else url
