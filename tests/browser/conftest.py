"""Playwright for Python driving Debian's Chromium (never a downloaded browser).

Without /usr/bin/chromium the browser tests skip with a reason that says how to install it;
under CI=true a missing Chromium fails the run instead.
"""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("BUGSIFT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Playwright's sync API runs an event loop in this thread; the ORM calls in these tests are
# deliberate set-up, not async code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _chromium_available() -> bool:
    return os.path.exists(CHROMIUM) or shutil.which("chromium") is not None


@pytest.fixture(scope="session")
def browser():
    if not _chromium_available():
        message = "Chromium is missing: install it with `apt-get install -y chromium` (Debian's package)."
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


# Every page reports what its Content-Security-Policy blocked as a console error (Chromium's own
# "Refused to ..." log lines do not reach Playwright's console event; the DOM event does).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
                " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


@pytest.fixture
def page(browser):
    """A fresh page; a test fails when any page it opened broke the Content-Security-Policy."""
    context = browser.new_context(accept_downloads=True)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(10_000)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if m.text.startswith("CSP violation") else None)
    page.csp_violations = violations
    page.csp_expected = []  # a test may name violations it expects (prefixes of the message)
    yield page
    context.close()
    unexpected = [v for v in violations if not v.startswith(tuple(page.csp_expected))]
    assert unexpected == [], unexpected


@pytest.fixture
def login(page, live_server):
    """Log ``username`` in through the real login form; returns the page."""

    def _login(username: str, password: str = "pw-for-tests"):
        page.goto(live_server.url + "/accounts/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        return page

    return _login
