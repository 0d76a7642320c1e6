"""Playwright driving Debian's Chromium (never a downloaded browser); screenshots of failures are kept."""

from pathlib import Path

import pytest

from interpwidgets.widgets.export import CHROMIUM_ARGS, find_chromium

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def offline_page(browser, request):
    """A page that may load file:, data: and blob: URLs only: any network request fails the test."""
    page = browser.new_page(viewport={"width": 900, "height": 600})
    blocked = []

    def guard(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            return route.continue_()
        blocked.append(url)
        return route.abort()

    page.route("**/*", guard)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.blocked, page.errors = blocked, errors
    yield page
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    page.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep
