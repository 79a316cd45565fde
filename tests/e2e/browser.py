"""The browser of the browser tests: Debian's chromium driven by Playwright for Python.

Playwright's own browser download never runs: the tests launch `/usr/bin/chromium` (or
`$CHROMIUM`) by path, headless, in a fresh temporary profile (Playwright's `launch` makes one
per browser). Where chromium is missing a test is skipped with the command that installs it,
except in CI (`CI` or `REQUIRE_BROWSER` set), where a missing browser fails the run.

`axe_violations(page)` runs axe-core (npm `axe-core`, pinned in package.json) in the page, put
there through the DevTools protocol as the page's Content-Security-Policy allows no script of
ours; `transferred_bytes` counts what crossed the wire for a page load (encoded bodies and
headers, from the DevTools protocol's Network events).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM") or "/usr/bin/chromium")
INSTALL = "apt-get install -y chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
#: Where the screenshots go: the README's own (docs/inbox/) only when asked with
#: UPDATE_SCREENSHOTS=1 (`make screenshots`), so that `make test` leaves the tree as it found it.
SCREENSHOTS = (
    PROJECT_ROOT / "docs" / "inbox"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "switchboard-inbox-screenshots"
)
#: What a hostile payload would do if it ran: set this flag.
FLAG = "window.__pwned"


def no_payload_ran(page: Any) -> None:
    """Nothing a hostile string carried ran (the flag is unset) or became an element."""
    assert page.evaluate(f"() => typeof {FLAG}") == "undefined"
    found = "() => document.querySelectorAll('main img, main script, main svg, main style, main iframe').length"
    assert page.evaluate(found) == 0


def _required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("REQUIRE_BROWSER"))


def require_browser() -> None:
    """Skip (or, in CI, fail) when chromium, Playwright or axe-core is missing."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"chromium at {CHROMIUM} (install it: {INSTALL})")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -r requirements-dev.txt)")
    if not AXE.exists():
        missing.append("npm axe-core (npm ci)")
    if not missing:
        return
    message = "browser tests need " + "; ".join(missing)
    if _required():
        pytest.fail(message + " (CI/REQUIRE_BROWSER is set: they must run)")
    pytest.skip(message)


def launch_browser() -> Iterator[Any]:
    """A headless chromium for a test module (closed after it)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[Any]:
    """axe-core's violations of these impacts in the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate(
        """async () => {
            const result = await window.axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
            }));
        }"""
    )
    return [v for v in found if v["impact"] in impacts]


class TransferMeter:
    """Bytes transferred by a page (the DevTools protocol's `encodedDataLength`: compressed
    bodies and headers) since `reset()`."""

    def __init__(self, page: Any) -> None:
        self.session = page.context.new_cdp_session(page)
        self.session.send("Network.enable")
        self.by_url: dict[str, int] = {}
        self._urls: dict[str, str] = {}
        self.session.on("Network.requestWillBeSent", self._sent)
        self.session.on("Network.loadingFinished", self._finished)

    def _sent(self, event: dict[str, Any]) -> None:
        self._urls[event["requestId"]] = event["request"]["url"]

    def _finished(self, event: dict[str, Any]) -> None:
        url = self._urls.get(event["requestId"], event["requestId"])
        self.by_url[url] = self.by_url.get(url, 0) + int(event["encodedDataLength"])

    def reset(self) -> None:
        """Start counting afresh."""
        self.by_url.clear()

    @property
    def total(self) -> int:
        """Bytes counted so far."""
        return sum(self.by_url.values())
