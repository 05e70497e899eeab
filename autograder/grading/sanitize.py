"""A submitted notebook made safe to render: `untrusted_notebook(nb)` returns a sanitised copy.

Every byte of a submission is the student's: they can edit any cell's JSON, and their code writes the outputs
while it runs. nbconvert (feedback) and formgrader render that notebook as HTML, so a `<script>`, an `onerror=`
handler, a `javascript:` URL, an `application/javascript` output, an SVG, a widget view, raw HTML in markdown or
`metadata.widgets` (embedded in a script tag) would run in the reader's browser: the instructor's, inside
formgrader. This module keeps only what is known to be inert, by allowlist:

- **Outputs:** streams and errors (rendered as escaped text); from rich outputs only `text/plain`, `image/png`
  and `image/jpeg` (valid base64 with the right magic bytes) and numeric image width and height; `text/latex`
  becomes plain text. Everything else (HTML, markdown, SVG, JavaScript, widgets, PDF) is dropped, and an output
  left without data says so in plain text.
- **Markdown cells** are rendered with nbconvert's own `markdown2html`. A cell whose HTML uses only allowed
  tags, attributes and URLs (`allowlist_violations`) keeps its source byte for byte: the release's markdown,
  LaTeX, tables, code and links are untouched. Any other cell's source becomes its HTML cleaned by bleach with
  the same allowlist, as a single raw-HTML line that markdown passes through unchanged.
- **Attachments:** only PNG and JPEG images with valid data, on markdown cells.
- **Raw cells:** their source is HTML-escaped, so it renders as text whatever the raw MIME type says.
- **Metadata:** notebook metadata keeps `kernelspec` and `language_info` (short plain strings); cell metadata
  keeps `nbgrader` (known keys with checked types, a grade_id of letters, digits, `_`, `.` and `-`), `tags`,
  `editable` and `deletable`. Cell ids follow nbformat's pattern, execution counts are integers.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import html
import math
import re
from html.parser import HTMLParser
from typing import Any

import bleach
import nbformat
from nbformat import NotebookNode

TEXT_ATTRS = frozenset({"title"})
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title", "class", "id", "name"}),
    "img": frozenset({"src", "alt", "title", "width", "height"}),
    "td": frozenset({"style", "align", "colspan", "rowspan"}),
    "th": frozenset({"style", "align", "colspan", "rowspan"}),
    **{f"h{level}": frozenset({"id", "class"}) for level in range(1, 7)},
    **{tag: frozenset({"class"}) for tag in ("span", "div", "pre", "code", "p", "table", "ol", "ul", "li")},
}
ALLOWED_TAGS = frozenset(ALLOWED_ATTRIBUTES) | frozenset({
    "abbr", "b", "blockquote", "br", "caption", "dd", "del", "dl", "dt", "em", "hr", "i", "ins", "kbd", "mark",
    "q", "s", "samp", "small", "strong", "sub", "sup", "tbody", "tfoot", "thead", "tr", "u", "var"})
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
IMAGE_TYPES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
SAFE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
SAFE_CLASS = re.compile(r"[A-Za-z0-9_\- ]{0,200}")
SAFE_STYLE = re.compile(r"(\s*text-align\s*:\s*(left|right|center)\s*;?\s*)?")
SAFE_WORD = re.compile(r"[\w .()+\-]{0,100}")
CELL_ID = re.compile(r"[a-zA-Z0-9\-_]{1,64}")
NOTICE = "*This cell held markup that cannot be shown safely; the grader removed it.*"


# --------------------------------------------------------------------------------------------------------------
# Values


def valid_image(mime: str, data: Any) -> bool:
    """Whether `data` is base64 (newlines allowed) of an image of type `mime` (PNG or JPEG only)."""
    if mime not in IMAGE_TYPES or not isinstance(data, str):
        return False
    compact = "".join(data.split())
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return False
    return raw.startswith(IMAGE_TYPES[mime])


def safe_url(url: str, *, image: bool) -> bool:
    """Whether `url` (an attribute value, entities already decoded) is inert: no `javascript:`, `data:` etc.

    Links may be relative, `#anchors`, http(s) or mailto; images only relative paths or PNG/JPEG data URLs.
    """
    squeezed = re.sub(r"[`\x00-\x20\x7f-\xa0\s]+", "", html.unescape(url))
    squeezed = re.sub(r"[^\x00-\x7f]", "", squeezed).lower()
    scheme = re.match(r"([a-z][a-z0-9+.\-]*):", squeezed)
    if image:
        if scheme:
            match = re.fullmatch(r"data:(image/(?:png|jpeg));base64,(.*)", re.sub(r"\s", "", url), re.S | re.I)
            return bool(match) and valid_image(match.group(1).lower(), match.group(2))
        return not squeezed.startswith("//")
    return scheme is None or scheme.group(1) in LINK_SCHEMES


def allowed_attribute(tag: str, name: str, value: str) -> bool:
    """The attribute rule shared by the validator and by bleach."""
    if name not in ALLOWED_ATTRIBUTES.get(tag, ()):
        return False
    if name in ("href", "src"):
        return safe_url(value, image=(name == "src"))
    if name == "class":
        return bool(SAFE_CLASS.fullmatch(value))
    if name == "style":
        return bool(SAFE_STYLE.fullmatch(value))
    if name in ("width", "height", "colspan", "rowspan"):
        return value.isdigit()
    if name == "align":
        return value in ("left", "right", "center")
    return True  # id, name, title, alt: text, escaped on output


class _Validator(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if not allowed_attribute(tag, name, value or ""):
                self.problems.append(f"<{tag} {name}=...>")

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"</{tag}>")

    def handle_comment(self, data: str) -> None:
        self.problems.append("<!-- comment -->")

    def handle_decl(self, decl: str) -> None:
        self.problems.append("<!declaration>")

    def handle_pi(self, data: str) -> None:
        self.problems.append("<?processing instruction>")

    def unknown_decl(self, data: str) -> None:
        self.problems.append("<![CDATA[")


def allowlist_violations(fragment: str) -> list[str]:
    """The tags, attributes, URLs and comments of an HTML fragment outside the allowlist ([] if none)."""
    validator = _Validator()
    validator.feed(fragment)
    validator.close()
    if validator.rawdata:  # an unterminated tag at the end: a browser may read it differently
        validator.problems.append("unterminated markup")
    return validator.problems


def clean_html(fragment: str) -> str:
    """`fragment` cleaned by bleach with the allowlist: disallowed tags are escaped, so they show as text."""
    from bleach.css_sanitizer import CSSSanitizer

    return bleach.clean(fragment, tags=ALLOWED_TAGS, attributes=allowed_attribute,
                        protocols=LINK_SCHEMES | {"data"}, strip=False, strip_comments=True,
                        css_sanitizer=CSSSanitizer(allowed_css_properties=["text-align"]))


# --------------------------------------------------------------------------------------------------------------
# Markdown


@functools.cache
def _exporter() -> Any:
    from nbconvert.exporters import HTMLExporter

    return HTMLExporter()


def markdown_html(source: str, attachments: dict[str, Any] | None = None) -> str:
    """`source` rendered exactly as nbconvert's HTML templates render a markdown cell."""
    return _exporter().markdown2html({"cell": {"attachments": attachments or {}}, "resources": {}}, source)


def safe_markdown(source: str, attachments: dict[str, Any] | None = None) -> str:
    """A markdown source that renders to inert HTML: `source` itself when it already does (see the module)."""
    try:
        rendered = markdown_html(source, attachments)
    except Exception:  # a missing attachment, a renderer crash: show the source as text
        rendered = None
    if rendered is not None and not allowlist_violations(rendered):
        return source
    cleaned = clean_html(rendered) if rendered is not None else "<pre>" + html.escape(source) + "</pre>"
    cleaned = cleaned.replace("\r", "").replace("\n", "&#10;")
    replacement = f'<div class="sanitized-markdown">{cleaned}</div>'
    try:
        safe = not allowlist_violations(markdown_html(replacement))
    except Exception:
        safe = False
    return replacement if safe else NOTICE


def safe_attachments(attachments: Any) -> dict[str, dict[str, str]]:
    """Only the PNG and JPEG attachments with valid data, under plain file names."""
    kept: dict[str, dict[str, str]] = {}
    if not isinstance(attachments, dict):
        return kept
    for name, bundle in attachments.items():
        if not (isinstance(name, str) and SAFE_NAME.fullmatch(name) and isinstance(bundle, dict)):
            continue
        images = {mime: "".join(data.split()) for mime, data in bundle.items() if valid_image(mime, data)}
        if images:
            kept[name] = images
    return kept


# --------------------------------------------------------------------------------------------------------------
# Outputs


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "".join(value)
    return ""


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9 else None


def safe_output(output: Any) -> NotebookNode | None:
    """An inert copy of one output, or None to drop it."""
    if not isinstance(output, dict):
        return None
    kind = output.get("output_type")
    if kind == "stream":
        name = output.get("name") if output.get("name") in ("stdout", "stderr") else "stdout"
        return nbformat.v4.new_output("stream", name=name, text=_text(output.get("text")))
    if kind == "error":
        traceback = [line for line in output.get("traceback") or [] if isinstance(line, str)]
        return nbformat.v4.new_output("error", ename=_text(output.get("ename")), evalue=_text(output.get("evalue")),
                                      traceback=traceback)
    if kind not in ("display_data", "execute_result"):
        return None
    data = output.get("data") if isinstance(output.get("data"), dict) else {}
    kept: dict[str, str] = {}
    metadata: dict[str, dict[str, float]] = {}
    for mime in IMAGE_TYPES:
        if valid_image(mime, data.get(mime)):
            kept[mime] = "".join(data[mime].split())
            size = (output.get("metadata") or {}).get(mime)
            size = {k: v for k, v in size.items() if k in ("width", "height") and isinstance(v, (int, float))
                    and not isinstance(v, bool) and math.isfinite(v) and v > 0} if isinstance(size, dict) else {}
            if size:
                metadata[mime] = size
    plain = _text(data.get("text/plain")) or _text(data.get("text/latex"))
    dropped = sorted(set(data) - set(kept) - {"text/plain"})
    if plain:
        kept["text/plain"] = plain
    elif not kept:
        kinds = ", ".join(str(mime)[:60] for mime in dropped) or "no data"
        kept["text/plain"] = f"[an output of type {kinds}, not shown: only text and PNG/JPEG images are]"
    if kind == "execute_result":
        return nbformat.v4.new_output(kind, data=kept, metadata=metadata,
                                      execution_count=_count(output.get("execution_count")))
    return nbformat.v4.new_output(kind, data=kept, metadata=metadata)


def safe_outputs(outputs: Any) -> list[NotebookNode]:
    """The inert outputs of `outputs` (see `safe_output`)."""
    if not isinstance(outputs, list):
        return []
    return [kept for kept in (safe_output(output) for output in outputs) if kept is not None]


# --------------------------------------------------------------------------------------------------------------
# Metadata and cells

NBGRADER_TYPES: dict[str, tuple[type, ...]] = {
    "grade": (bool,), "solution": (bool,), "locked": (bool,), "task": (bool,), "schema_version": (int,),
    "grade_id": (str,), "points": (int, float), "checksum": (str,), "cell_type": (str,)}


def safe_nbgrader(meta: Any) -> dict[str, Any] | None:
    """nbgrader's cell metadata with known keys of the right types, or None if its grade_id is not plain."""
    if not isinstance(meta, dict) or not SAFE_NAME.fullmatch(str(meta.get("grade_id", "x"))):
        return None
    kept = {key: value for key, value in meta.items() if key in NBGRADER_TYPES
            and isinstance(value, NBGRADER_TYPES[key]) and (key == "grade_id" or not isinstance(value, str)
                                                            or SAFE_NAME.fullmatch(value))}
    if isinstance(kept.get("points"), float) and not math.isfinite(kept["points"]):
        del kept["points"]
    return kept


def safe_cell_metadata(meta: Any) -> dict[str, Any]:
    """Cell metadata reduced to nbgrader's (checked), plain tags, `editable` and `deletable`."""
    kept: dict[str, Any] = {}
    if not isinstance(meta, dict):
        return kept
    nbgrader = safe_nbgrader(meta.get("nbgrader"))
    if nbgrader is not None and "nbgrader" in meta:
        kept["nbgrader"] = nbgrader
    tags = meta.get("tags")
    if isinstance(tags, list):
        kept["tags"] = [tag for tag in tags if isinstance(tag, str) and SAFE_NAME.fullmatch(tag)]
    for key in ("editable", "deletable"):
        if isinstance(meta.get(key), bool):
            kept[key] = meta[key]
    return kept


def safe_notebook_metadata(meta: Any) -> dict[str, Any]:
    """Notebook metadata reduced to `kernelspec` and `language_info`, with short plain strings only."""
    kept: dict[str, Any] = {}
    if not isinstance(meta, dict):
        return kept
    fields = {"kernelspec": ("name", "display_name", "language"),
              "language_info": ("name", "version", "pygments_lexer", "file_extension", "mimetype")}
    for key, names in fields.items():
        section = meta.get(key)
        if isinstance(section, dict):
            kept[key] = {name: section[name] for name in names
                         if isinstance(section.get(name), str) and SAFE_WORD.fullmatch(section[name].replace("/", ""))}
    return kept


def safe_cell(cell: Any, index: int) -> NotebookNode | None:
    """An inert copy of one cell, or None to drop it (an unknown cell type)."""
    if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
        return None
    source = _text(cell.get("source"))
    metadata = safe_cell_metadata(cell.get("metadata"))
    if cell["cell_type"] == "code":
        new = nbformat.v4.new_code_cell(source, metadata=metadata,
                                        execution_count=_count(cell.get("execution_count")),
                                        outputs=safe_outputs(cell.get("outputs")))
    elif cell["cell_type"] == "markdown":
        attachments = safe_attachments(cell.get("attachments"))
        new = nbformat.v4.new_markdown_cell(safe_markdown(source, attachments), metadata=metadata)
        if attachments:
            new.attachments = attachments
    else:
        new = nbformat.v4.new_raw_cell(html.escape(source), metadata=metadata)
    cell_id = cell.get("id")
    new.id = cell_id if isinstance(cell_id, str) and CELL_ID.fullmatch(cell_id) else f"cell-{index}"
    return new


def untrusted_notebook(nb: NotebookNode) -> NotebookNode:
    """A sanitised copy of a student-controlled notebook, safe for nbconvert and formgrader to render.

    Call it on every submitted or autograded notebook before it is rendered or stored for rendering. Cells
    keep their order, type, source (markdown only where inert, see the module), nbgrader metadata and
    inert outputs, so grades, checksums and nbgrader's cell lookup are unaffected. `nb` is not modified.

    Args:
        nb: the notebook as read by `nbformat.read(..., as_version=4)`.

    Returns:
        A new nbformat-4 notebook that passes `nbformat.validate`.
    """
    cells = [safe_cell(cell, index) for index, cell in enumerate(copy.deepcopy(nb.get("cells") or []))]
    clean = nbformat.v4.new_notebook(cells=[cell for cell in cells if cell is not None],
                                     metadata=safe_notebook_metadata(nb.get("metadata")))
    ids = [cell.id for cell in clean.cells]
    if len(set(ids)) != len(ids):  # duplicate ids are invalid: number them all
        for index, cell in enumerate(clean.cells):
            cell.id = f"cell-{index}"
    return clean
