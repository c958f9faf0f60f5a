"""The web interface: server-rendered pages (zh-CN first, English) with a little JavaScript calling the JSON API."""

from server.web.routes import install_web

__all__ = ["install_web"]
