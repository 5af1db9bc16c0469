"""The one place where text enters the HTML and SVG that glassgrad writes.

Every page and drawing (graph views, the backward stepper, neuron pictures, the run report, worksheets)
passes what the user named — tensor and layer names, titles, settings, class names, expressions — through
``escape``, so a name such as ``<script>alert(1)</script>`` shows as text and cannot add markup; data for a
page's own script goes through ``json_for_script``. tests/test_markup.py renders each output with hostile
names and checks that its markup is the same as with harmless ones.
"""
from __future__ import annotations

import html
import json
from typing import Any


def escape(value: Any, quote: bool = True) -> str:
    """``str(value)`` as HTML or SVG text or attribute value: ``& < >`` and, with ``quote`` (needed inside an
    attribute), ``" '`` become entities."""
    return html.escape(str(value), quote=quote)


def json_for_script(data: Any) -> str:
    """JSON safe inside a <script> element: no "</script>" or "<!--" can close or change it."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
