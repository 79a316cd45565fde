"""The static shell: content-hashed names, rewritten imports, the page's headers, gzip, 404s."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import azure.functions as func
import pytest

from switchboard.inbox import assets

IMPORT = re.compile(r"""from\s*["']\./([^"']+)["']""")


def _get(path: str, url: str | None = None, **headers: str) -> func.HttpResponse:
    return assets.INBOX_APP(
        func.HttpRequest(
            "GET",
            url or f"http://localhost:7071/inbox/{path}",
            headers=headers,
            params={},
            route_params={"path": path},
            body=b"",
        )
    )


def test_every_module_import_and_page_reference_names_a_hashed_asset() -> None:
    bundle = assets.build_bundle()
    for name, asset in bundle.assets.items():
        assert re.fullmatch(r"[a-z]+\.[0-9a-f]{12}\.(js|css|svg)", name)
        if name.endswith(".js"):
            for target in IMPORT.findall(asset.body.decode()):
                assert target in bundle.assets, (name, target)
        assert gzip.decompress(asset.gzipped) == asset.body
    page = bundle.page.body.decode()
    for reference in re.findall(r'(?:src|href)="(assets/[^"]+)"', page):
        assert reference.removeprefix("assets/") in bundle.assets
    assert set(bundle.names) == {p.name for p in assets.WEB.iterdir()} - {"index.html"}


def test_no_source_writes_markup_from_a_string() -> None:
    for source in assets.WEB.glob("*.js"):
        text = source.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, (source.name, sink)


def test_a_change_renames_the_asset_and_everything_that_imports_it(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text('<script type="module" src="main.js"></script>')
    (tmp_path / "util.js").write_text("export const x = 1;\n")
    (tmp_path / "main.js").write_text('import { x } from "./util.js";\nconsole.log(x);\n')
    first = assets.build_bundle(tmp_path)
    (tmp_path / "util.js").write_text("export const x = 2;\n")
    second = assets.build_bundle(tmp_path)
    assert first.names["util.js"] != second.names["util.js"]
    assert first.names["main.js"] != second.names["main.js"]
    assert second.names["main.js"] in second.page.body.decode()


def test_an_import_cycle_or_a_missing_module_is_refused(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text('<script type="module" src="a.js"></script>')
    (tmp_path / "a.js").write_text('import "./b.js";\n')
    (tmp_path / "b.js").write_text('import "./a.js";\n')
    with pytest.raises(assets.BundleError, match="cycle"):
        assets.build_bundle(tmp_path)
    (tmp_path / "b.js").write_text('import "./c.js";\n')
    with pytest.raises(assets.BundleError, match=r"c\.js"):
        assets.build_bundle(tmp_path)


def test_the_page_is_never_cached_and_strict() -> None:
    page = _get("", "http://localhost:7071/inbox/", **{"accept-encoding": "gzip, br"})
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Content-Encoding"] == "gzip"
    csp = page.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "base-uri 'none'",
    ):
        assert directive in csp
    assert "unsafe" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    plain = _get("", "http://localhost:7071/inbox/", **{"accept-encoding": "gzip;q=0"})
    assert "Content-Encoding" not in plain.headers
    assert plain.get_body().startswith(b"<!doctype html>")


def test_assets_are_immutable_and_anything_else_is_404() -> None:
    name = next(iter(assets.bundle().assets))
    asset = _get(f"assets/{name}")
    assert asset.status_code == 200
    assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    for path in ("assets/main.js", "assets/nope.0123456789ab.js", "index.html.bak", "../host.json"):
        assert _get(path).status_code == 404
    moved = _get("", "http://localhost:7071/inbox")
    assert moved.status_code == 308
    assert moved.headers["Location"] == "/inbox/"
