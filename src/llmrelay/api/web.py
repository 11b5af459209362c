"""The chat page and its static files, served by the app itself (no CDN: works offline)."""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from llmrelay import __version__
from llmrelay.auth import open_route

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

router = APIRouter(include_in_schema=False)


@functools.cache
def templates() -> Jinja2Templates:
    # Made on first use, not at import: importing the app builds nothing.
    return Jinja2Templates(directory=WEB_DIR / "templates")


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")


@router.get("/", response_class=HTMLResponse)
@open_route
async def index(request: Request) -> HTMLResponse:
    return templates().TemplateResponse(request, "index.html", {"version": __version__})
