"""Routes of the web interface under /ui: page shells (no personal data), static files, the language switch.

The pages carry no records: their scripts fetch them from the JSON API with the caller's bearer token, so the
API's route rules and scopes decide what anyone sees. Tokens live in the tab's sessionStorage (never in URLs or
cookies, so there is nothing for a cross-site request to ride on); a strict Content-Security-Policy admits only
this server's scripts.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from server.web.i18n import LANGUAGE_COOKIE, LANGUAGES, catalogue, pick_language, translate
from server.web.pages import HOME, HOME_BY_ROLE, LOGIN, PAGES, Page, nav_pages

log = logging.getLogger(__name__)

PREFIX = "/ui"
WEB_DIR = Path(__file__).parent
STATIC_URL = f"{PREFIX}/static"
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
LANGUAGE_COOKIE_SECONDS = 365 * 86400
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
router = APIRouter(prefix=PREFIX, include_in_schema=False)


def script_url(name: str) -> str:
    """URL of a page script: vendored files by their path, our own under js/."""
    return f"{STATIC_URL}/{name}" if "/" in name else f"{STATIC_URL}/js/{name}"


def render(request: Request, page: Page) -> Response:
    """A page shell in the caller's language, with the security headers; ?lang= also sets the language cookie."""
    asked = request.query_params.get("lang")
    language = pick_language(asked, request.cookies.get(LANGUAGE_COOKIE))
    context = {
        "page": page,
        "lang": language,
        "languages": LANGUAGES,
        "t": lambda key, **values: translate(language, key, **values),
        "messages": catalogue(language),
        "nav": nav_pages(),
        "prefix": PREFIX,
        "static": STATIC_URL,
        "scripts": [script_url(name) for name in page.scripts],
        "params": dict(request.path_params),
        "home_by_role": HOME_BY_ROLE,
    }
    response = templates.TemplateResponse(request, page.template, context)
    if asked in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE, language, max_age=LANGUAGE_COOKIE_SECONDS, path=PREFIX, samesite="lax", httponly=True
        )
    response.headers.update(SECURITY_HEADERS)
    return response


def _add_page(page: Page) -> None:
    """Register the GET route of one page."""

    def show(request: Request) -> Response:
        return render(request, page)

    show.__doc__ = f"The {page.name} page."
    router.add_api_route(page.path, show, methods=["GET"], response_class=HTMLResponse, name=f"ui-{page.name}")


for _page in (HOME, LOGIN, *PAGES):
    _add_page(_page)


def install_web(app: FastAPI) -> None:
    """Mount the interface on the app: /ui pages, /ui/static files, and / and /ui leading to /ui/."""
    app.include_router(router)
    app.mount(STATIC_URL, StaticFiles(directory=str(WEB_DIR / "static")), name="ui-static")

    def to_home() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    app.add_api_route(PREFIX, to_home, methods=["GET"], include_in_schema=False)
    if not any(getattr(route, "path", None) == "/" for route in app.routes):
        app.add_api_route("/", to_home, methods=["GET"], include_in_schema=False)
