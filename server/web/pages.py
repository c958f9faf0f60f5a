"""The pages of the web interface: path, template, the roles that may use each, and the navigation."""

from __future__ import annotations

from dataclasses import dataclass

STAFF = ("admin", "manager")
RESIDENT = ("resident",)
POLICE = ("police",)
PEOPLE = STAFF + RESIDENT


@dataclass(frozen=True)
class Page:
    """One page: its route, template, the roles it serves, whether it is in the navigation, its scripts."""

    name: str
    path: str
    roles: tuple[str, ...]
    in_nav: bool = True
    scripts: tuple[str, ...] = ()

    @property
    def template(self) -> str:
        """The Jinja2 template of the page."""
        return f"{self.name.replace('.', '_')}.html"

    @property
    def title_key(self) -> str:
        """The catalogue key of the page's title (also its navigation label)."""
        return f"page.{self.name}"


PAGES: tuple[Page, ...] = (
    Page("live", "/live", STAFF, scripts=("live.js",)),
    Page("alerts", "/alerts", STAFF, scripts=("alerts.js",)),
    Page("devices", "/devices", STAFF, scripts=("devices.js",)),
    Page("traffic", "/traffic", STAFF, scripts=("vendor/chart.umd.min.js", "traffic.js")),
    Page("events", "/events", STAFF, scripts=("events.js",)),
    Page("people", "/people", STAFF, scripts=("people.js",)),
    Page("person", "/people/{person_id}", PEOPLE, in_nav=False, scripts=("person.js",)),
    Page("history", "/my/history", RESIDENT, scripts=("history.js",)),
    Page("vehicles", "/vehicles", PEOPLE, scripts=("vehicles.js",)),
    Page("visitors", "/visitors", PEOPLE, scripts=("visitors.js",)),
    Page("face", "/my/face", RESIDENT, scripts=("face.js",)),
    Page("imports", "/imports", STAFF, scripts=("imports.js",)),
    Page("compliance", "/compliance", STAFF, scripts=("compliance.js",)),
    Page("authorisations", "/police/authorisations", POLICE, scripts=("authorisations.js",)),
    Page("search", "/police/search", POLICE, scripts=("search.js",)),
    Page("audit", "/police/audit", POLICE, scripts=("audit.js",)),
)
LOGIN = Page("login", "/login", (), in_nav=False, scripts=("login.js",))
HOME = Page("home", "/", (), in_nav=False)
# Where each role lands after logging in.
HOME_BY_ROLE = {
    "admin": "/ui/live",
    "manager": "/ui/live",
    "resident": "/ui/my/history",
    "police": "/ui/police/authorisations",
}


def nav_pages() -> list[Page]:
    """Pages in the navigation, in order."""
    return [page for page in PAGES if page.in_nav]
