"""The reviewer page in a real browser: headless Chromium (Debian's) driven by Playwright.

Runs against a real `feedback-strike serve` process.  `.ci/run` installs the `chromium` package;
FEEDBACK_STRIKE_SKIP_BROWSER=1 skips these tests explicitly.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import free_port, wait_ready

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ADMIN = "browser-admin-key"
DOCS = Path(__file__).resolve().parents[2] / "docs"
pytestmark = pytest.mark.browser

if os.environ.get("FEEDBACK_STRIKE_SKIP_BROWSER") == "1":
    pytest.skip("FEEDBACK_STRIKE_SKIP_BROWSER=1: told to skip browser tests", allow_module_level=True)


def make_key(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "classifier.cli", "keys", "create", *args], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/fs.db", "FEEDBACK_STRIKE_API_KEYS": ADMIN}
    proc = subprocess.Popen([sys.executable, "-m", "classifier.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        reviewer = make_key(env, "--role", "reviewer", "--name", "Anna")
        seller = make_key(env, "--role", "seller", "--seller-id", "S1", "--name", "shop")
        comments = [
            ("fb-1", "Paketet kom två veckor för sent och kartongen var helt mosad. Kundtjänst lade på luren "
                     "två gånger, men skärmen var repad och säljaren svarade aldrig på mina mejl. Aldrig mer!", "AFN"),
            ("fb-2", "The parcel never arrived, but the seller also never answered my emails.", "AFN"),
            ("fb-3", "<script>alert('xss')</script> Kom aldrig fram <img src=x onerror=alert(2)>", "AFN"),
        ]
        for fid, comment, channel in comments:
            rec = {"feedback_id": fid, "rating": 1, "comment": comment, "fulfillment_channel": channel,
                   "order_id": "203-1", "seller_id": "S1", "buyer_email": f"{fid}@example.com",
                   "feedback_date": "2026-11-20"}
            assert httpx.post(base + "/v1/feedback", json=rec, headers={"X-API-Key": seller}).status_code == 200
            r = httpx.post(base + "/v1/strike-requests", json={"feedback_id": fid}, headers={"X-API-Key": seller})
            assert r.status_code == 201
        yield {"base": base, "reviewer": reviewer, "seller": seller, "db": str(tmp / "fs.db")}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium package (.ci/run does)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def sign_in(page, base: str, key: str):
    page.goto(base + "/review")
    assert page.url.endswith("/review/login")
    page.fill("#api_key", key)
    page.click("button[type=submit]")


def test_reviewer_signs_in_filters_corrects_strikes_by_keyboard_and_moves_on(site, browser, tmp_path):
    base = site["base"]
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, base, site["reviewer"])
    assert page.locator("#queue tr.row").count() == 3
    page.select_option("#f-language", "en")
    page.click("#f-apply")
    assert page.locator("#queue tr.row").count() == 1
    page.select_option("#f-language", "")
    page.click("#f-apply")
    page.locator("#queue a.open").first.click()
    assert page.url.endswith("/review/requests/1")
    assert page.locator("mark.span").count() >= 1
    assert "Amazon delivery" in (page.locator("mark.span").first.get_attribute("title") or "")
    assert page.locator("#note-preview").inner_text().startswith("Denna artikel levererades av Amazon")
    # docs/review-page.png (README) is refreshed only on request, so a test run leaves the tree clean
    refresh = os.environ.get("FEEDBACK_STRIKE_UPDATE_SCREENSHOT") == "1"
    shot = DOCS / "review-page.png" if refresh else tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    page.select_option("#label_0", "other")
    page.locator("h1").click()  # leave the select: shortcuts never fire while typing or choosing
    page.keyboard.press("s")
    page.wait_for_url(base + "/review/requests/2")

    with sqlite3.connect(site["db"]) as db:  # the decision and the correction, as stored
        row = db.execute("SELECT status, decision, corrections FROM strike_requests WHERE id = 1").fetchone()
        struck = db.execute("SELECT struck, note FROM feedback WHERE feedback_id = 'fb-1'").fetchone()
    assert row[0] == "decided" and row[1] == "strike"
    assert json.loads(row[2]) == [{"span": 0, "label": "other"}]
    assert struck[0] == 1 and struck[1].startswith("Denna artikel")
    admin = {"X-API-Key": ADMIN}
    first = httpx.get(base + "/v1/strike-requests/1", headers=admin).json()
    assert first["status"] == "decided" and first["decision"] == "strike"
    audit = httpx.get(base + "/v1/admin/audit", params={"request_id": 1}, headers=admin).json()["items"]
    assert audit[-1]["details"]["corrections"] == [{"span": 0, "label": "other"}]
    export = httpx.get(base + "/v1/corrections/export", headers=admin).text
    assert '"label": "other"' in export.splitlines()[0]

    page.keyboard.press("j")
    page.wait_for_url(base + "/review/requests/3")
    page.keyboard.press("ArrowUp")
    page.wait_for_url(base + "/review/requests/2")
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    assert dialogs == []


def test_hostile_comment_renders_as_text(site, browser):
    page = browser.new_page()
    fired: list[str] = []
    page.on("dialog", lambda d: (fired.append(d.message), d.dismiss()))
    sign_in(page, site["base"], site["reviewer"])
    page.goto(site["base"] + "/review/requests/3")
    text = page.locator("#comment").inner_text()
    assert "<script>alert('xss')</script>" in text and "<img src=x onerror=alert(2)>" in text
    assert page.locator("#comment script, #comment img").count() == 0
    assert fired == []
    assert page.locator("#email").inner_text() == "f***@example.com"


def test_a_seller_key_cannot_open_the_page(site, browser):
    page = browser.new_page()
    sign_in(page, site["base"], site["seller"])
    assert "cannot open it" in page.locator(".error").inner_text()
    context = page.context
    context.add_cookies([{"name": "fs_review", "value": site["seller"], "url": site["base"] + "/review"}])
    response = page.goto(site["base"] + "/review/requests/1")
    assert response is not None and response.status == 403


def test_narrow_window_and_keyboard_reach(site, browser):
    page = browser.new_page(viewport={"width": 400, "height": 800})
    sign_in(page, site["base"], site["reviewer"])
    page.goto(site["base"] + "/review/requests/3")
    wide = page.evaluate("""Array.from(document.querySelectorAll('body *'))
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
    assert wide == [], "elements wider than a 400 px window"
    reached = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    assert {"span-0", "label_0", "strike", "keep", "help-button"} <= reached
