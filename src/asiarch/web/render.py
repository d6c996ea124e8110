"""The only HTML the observatory makes on the server: highlighted code and line diffs, escaped.

Candidate code is untrusted text. Pygments escapes what it highlights, and every diff line goes through
``html.escape``, so a ``</pre><script>`` inside a candidate stays text in the page.
"""

from __future__ import annotations

import difflib
import html

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

DIFF_CONTEXT_LINES = 3
_FORMATTER = HtmlFormatter(cssclass="highlight", linenos=False)
_LEXER = PythonLexer()
_LINE_CLASSES = {"+": "add", "-": "del", "@": "hunk", " ": "ctx"}


def highlight_python(code: str) -> str:
    """``code`` as Pygments HTML (``<div class="highlight"><pre>…``), token classes styled by the page."""
    return highlight(code, _LEXER, _FORMATTER)


def diff_html(old: str, new: str) -> dict[str, object]:
    """A unified diff of ``old`` → ``new`` as HTML lines (class add / del / hunk / ctx) and the line counts."""
    lines = list(
        difflib.unified_diff(old.splitlines(), new.splitlines(), "parent", "candidate", n=DIFF_CONTEXT_LINES, lineterm="")
    )[2:]  # the ---/+++ header names nothing the page does not already say
    added = sum(1 for line in lines if line.startswith("+"))
    removed = sum(1 for line in lines if line.startswith("-"))
    body = "".join(
        f'<div class="{_LINE_CLASSES.get(line[:1], "ctx")}">{html.escape(line) or "&nbsp;"}</div>' for line in lines
    )
    return {"html": f'<pre class="diff">{body}</pre>', "added": added, "removed": removed}
