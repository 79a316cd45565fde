"""The static shell: the inbox app's page and assets, served by the function app itself.

No build step: the files of `web/` are the app (plain ES modules and CSS). On the first request
an instance reads them once and names each asset by its content, `<stem>.<12 hex of
SHA-256><ext>`, rewriting the module imports (`from "./api.js"`) and the page's `src`/`href` to
those names, dependencies first (an import cycle is refused: a unit test builds the bundle).
So an asset's URL changes whenever its content or anything it imports does, and assets are
served `Cache-Control: public, max-age=31536000, immutable`; the page (`/inbox/`) names the
current assets and is never cached (`no-store`): a deploy is picked up at the next load.

Every answer carries `nosniff` and a Content-Security-Policy; the page's allows only this
origin's scripts, styles, images, media and fetches, no inline script or style, no framing
(`frame-ancestors 'none'`), no `<base>`, forms posting only here, and Trusted Types for every
script sink (so no code path can hand a string to `innerHTML`). Text assets are gzipped once
and served compressed to clients that accept it (`Vary: Accept-Encoding`).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import azure.functions as func

WEB = Path(__file__).resolve().parent / "web"
PAGE = "index.html"
ASSETS = "assets/"
#: The app's own route (anonymous): `/inbox/` and `/inbox/assets/<hashed name>`.
ROUTE_BASE = "/inbox/"

PAGE_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "media-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
ASSET_CSP = "default-src 'none'; frame-ancestors 'none'"
IMMUTABLE = "public, max-age=31536000, immutable"
CONTENT_TYPES: Mapping[str, str] = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
}
COMMON_HEADERS: Mapping[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_IMPORT = re.compile(r"""(\bfrom\s*|\bimport\s*\(?\s*)(["'])\./([A-Za-z0-9_-]+\.js)\2""")
_PAGE_REF = re.compile(r"""\b(src|href)="([A-Za-z0-9_-]+\.(?:js|css|svg))\"""")
_HASHED = re.compile(r"[A-Za-z0-9_-]+\.[0-9a-f]{12}\.[a-z]+")


class BundleError(ValueError):
    """The files of `web/` cannot make an app (an import cycle, a missing file)."""


@dataclass(frozen=True)
class Asset:
    """One file as served: its body, gzipped body and content type."""

    name: str
    content_type: str
    body: bytes
    gzipped: bytes


@dataclass(frozen=True)
class Bundle:
    """The app as served: the page and its assets by hashed name."""

    page: Asset
    assets: Mapping[str, Asset]
    names: Mapping[str, str]  # source file name -> hashed name


def _asset(name: str, body: bytes) -> Asset:
    suffix = Path(name).suffix
    return Asset(name, CONTENT_TYPES[suffix], body, gzip.compress(body, 9, mtime=0))


def hashed_name(name: str, body: bytes) -> str:
    """`app.js` with this content -> `app.<12 hex>.js`."""
    path = Path(name)
    return f"{path.stem}.{hashlib.sha256(body).hexdigest()[:12]}{path.suffix}"


def build_bundle(folder: Path = WEB) -> Bundle:
    """The bundle of the files in `folder` (pure over their contents)."""
    sources = {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix in CONTENT_TYPES and p.name != PAGE
    }
    names: dict[str, str] = {}
    assets: dict[str, Asset] = {}
    visiting: set[str] = set()

    def resolve(name: str) -> str:
        if name in names:
            return names[name]
        if name not in sources:
            raise BundleError(f"{name} is referenced but is not in {folder.name}/")
        if name in visiting:
            raise BundleError(f"import cycle through {name}")
        visiting.add(name)
        body = sources[name]
        if name.endswith(".js"):
            text = body.decode("utf-8")
            text = _IMPORT.sub(lambda m: f"{m[1]}{m[2]}./{resolve(m[3])}{m[2]}", text)
            body = text.encode("utf-8")
        visiting.discard(name)
        hashed = hashed_name(name, body)
        names[name] = hashed
        assets[hashed] = _asset(hashed, body)
        return hashed

    for name in sources:
        resolve(name)
    page_text = (folder / PAGE).read_text(encoding="utf-8")
    page_text = _PAGE_REF.sub(lambda m: f'{m[1]}="{ASSETS}{resolve(m[2])}"', page_text)
    return Bundle(_asset(PAGE, page_text.encode("utf-8")), assets, names)


_lock = threading.Lock()
_bundle: Bundle | None = None


def bundle() -> Bundle:
    """This process's bundle, built on first use."""
    global _bundle
    with _lock:
        if _bundle is None:
            _bundle = build_bundle()
        return _bundle


def _accepts_gzip(req: func.HttpRequest) -> bool:
    for part in (req.headers.get("accept-encoding") or "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*") and params.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


def _answer(asset: Asset, req: func.HttpRequest, headers: Mapping[str, str]) -> func.HttpResponse:
    sent = {**COMMON_HEADERS, **headers, "Content-Type": asset.content_type}
    sent["Vary"] = "Accept-Encoding"
    body = asset.body
    if _accepts_gzip(req):
        body = asset.gzipped
        sent["Content-Encoding"] = "gzip"
    return func.HttpResponse(body=body, status_code=200, headers=sent)


def _plain(status: int, text: str, **headers: str) -> func.HttpResponse:
    sent = {
        **COMMON_HEADERS,
        "Content-Security-Policy": ASSET_CSP,
        "Cache-Control": "no-store",
        "Content-Type": "text/plain; charset=utf-8",
        **headers,
    }
    return func.HttpResponse(body=text.encode(), status_code=status, headers=sent)


class StaticShell:
    """The shell every static route of the inbox goes through (anonymous, GET only)."""

    def __call__(self, req: func.HttpRequest) -> func.HttpResponse:
        """Serve `/inbox/...`: the page, an asset by hashed name, or 404."""
        if req.method.upper() not in ("GET", "HEAD"):
            return _plain(405, "Method not allowed", Allow="GET, HEAD")
        path = str(req.route_params.get("path") or "")
        try:
            url_path = urlsplit(req.url).path
        except ValueError:
            url_path = ROUTE_BASE
        if path in ("", PAGE):
            if not path and not url_path.endswith("/"):
                return _plain(308, "See /inbox/", Location=ROUTE_BASE)
            page = {"Cache-Control": "no-store", "Content-Security-Policy": PAGE_CSP}
            return _answer(bundle().page, req, {**page, "X-Frame-Options": "DENY"})
        name = path.removeprefix(ASSETS)
        asset = bundle().assets.get(name) if path.startswith(ASSETS) else None
        if asset is None or not _HASHED.fullmatch(name):
            return _plain(404, "Not found")
        return _answer(
            asset, req, {"Cache-Control": IMMUTABLE, "Content-Security-Policy": ASSET_CSP}
        )


INBOX_APP = StaticShell()
