"""The storefront widget's script, ``GET /widget.js``: public, like the dashboard's files.

The script (``service/widget/widget.js``) renders a scenario into a shop's page and reports
impressions and clicks to ``POST /feedback``; see its header for the options. A key in a web
page is public, so the widget is meant to carry a key with the ``storefront`` scope only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

WIDGET = Path(__file__).resolve().parents[1] / "widget" / "widget.js"

public = APIRouter(tags=["widget"])


@public.get("/widget.js", include_in_schema=False)
def widget_js() -> FileResponse:
    """The widget's script; browsers may keep it five minutes."""
    return FileResponse(
        WIDGET,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )
