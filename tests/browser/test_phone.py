"""Every staff page on a 390 px phone, for each role: nothing off-screen, no sideways scrolling.

The demo data (every article state, sources, annotations, a flagged source) is loaded into the live
server, then each demo person signs in through the log-in page and visits every staff page they can
open. A page fails when the document is wider than the viewport, or when any visible link, button,
field or summary lies partly outside it (also inside a scrolling wrapper: a control one must scroll a
table sideways to reach is off-screen for a phone user). The same pages are checked with axe-core.
"""
from __future__ import annotations

import pytest

from reviewflow.demo_content import PEOPLE
from tests.browser.helpers import sign_in

PHONE = {"width": 390, "height": 844}

#: Per role: the demo person, and the pages beyond the shared ones.
ROLES = {
    "writer": ("maren.castellano@example.org", ["/dashboard", "/work/articles", "/work/articles/new",
                                               "/notifications", "/account"]),
    "reviewer": ("imani.halvorsen@example.org", ["/dashboard", "/reviews", "/notifications", "/account"]),
    "editor": ("beatrix.solano@example.org", ["/dashboard", "/work/articles", "/audit", "/notifications",
                                             "/account"]),
    "admin": ("rosalind.achterberg@example.org", ["/dashboard", "/admin/users", "/admin/users/new",
                                                 "/admin/site", "/admin/mail", "/admin/webhooks",
                                                 "/admin/webhooks/new", "/admin/webhooks/deliveries", "/audit",
                                                 "/account"]),
}

#: Per role, the article sub-pages to visit for every demo article they can see (404/403 pages skipped).
ARTICLE_PAGES = {
    "writer": ["", "/edit", "/history", "/diff"],
    "reviewer": ["", "/review", "/sign?decision=approve", "/sign?decision=request_changes", "/history"],
    "editor": ["", "/assign", "/publish", "/unpublish", "/history", "/audit"],
    "admin": ["", "/history", "/audit"],
}

OFF_SCREEN = """() => {
  const width = window.innerWidth;
  const problems = [];
  const wide = document.documentElement.scrollWidth;
  if (wide > width + 1) problems.push(`the page is ${wide} px wide`);
  const hiddenByClip = el => {
    for (let node = el; node && node !== document.body; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.clip === 'rect(0px, 0px, 0px, 0px)' || style.clipPath === 'inset(50%)') return true;
      if (node.classList.contains('skip-link')) return true;
    }
    return false;
  };
  for (const el of document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')) {
    const box = el.getBoundingClientRect();
    if (box.width < 2 || box.height < 2) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || el.closest('[hidden], dialog:not([open])')) continue;
    if (hiddenByClip(el)) continue;
    if (box.left < -1 || box.right > width + 1) {
      const label = (el.innerText || el.value || el.getAttribute('aria-label') || el.name || '').trim().slice(0, 40);
      const span = `${Math.round(box.left)}..${Math.round(box.right)} px`;
      problems.push(`${el.tagName.toLowerCase()} "${label}" spans ${span}`);
    }
  }
  return problems;
}"""


def _problems(page) -> list[str]:
    return page.evaluate(OFF_SCREEN)


pytestmark = pytest.mark.allow_lazy_load  # the demo seeding loads lazily, as `flask seed-demo` does


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_staff_page_fits_a_phone(role, demo_server, browser, check_a11y, shot):
    server, article_ids = demo_server
    email, pages = ROLES[role]
    context = browser.new_context(viewport=PHONE, locale="en-GB", timezone_id="Europe/Berlin",
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_in(page, server, email, PEOPLE[0]["password"])
    urls = [server.url + path for path in pages]
    urls += [f"{server.url}/work/articles/{article_id}{sub}" for article_id in article_ids
             for sub in ARTICLE_PAGES[role]]
    failures: dict[str, list[str]] = {}
    checked = 0
    for url in urls:
        response = page.goto(url)
        if response is None or response.status in (403, 404, 409, 410):
            continue
        assert response.status == 200, f"{url}: {response.status}"
        checked += 1
        if found := _problems(page):
            failures[url] = found
            shot(page, f"{role}-{checked}")
        if url.endswith(("/dashboard", "/review", "/edit", "/account", "/admin/users")) or url == urls[-1]:
            check_a11y(page)
    context.close()
    assert checked >= len(pages), f"only {checked} pages opened for {role}"
    report = "\n".join(f"{url}:\n    " + "\n    ".join(found[:6]) for url, found in failures.items())
    assert not failures, f"{len(failures)} of {checked} pages do not fit 390 px for the {role}:\n{report}"


def test_the_check_finds_a_control_off_screen(demo_server, browser):
    """The check itself: a button pushed past the right edge, and a page wider than the phone, are found."""
    server, _ = demo_server
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{server.url}/login")
    assert _problems(page) == []
    page.evaluate("""() => {
      const b = document.createElement('button'); b.textContent = 'Far';
      b.style.position = 'absolute'; b.style.left = '420px'; document.body.append(b);
    }""")
    found = _problems(page)
    assert any('button "Far"' in line for line in found), found
    assert any("the page is" in line for line in found), found
    context.close()


def test_demo_people_cover_each_role():
    """Every role the test visits has a demo person of that role (the list above follows the demo data)."""
    by_email = {p["email"]: p["roles"] for p in PEOPLE}
    for role, (email, _) in ROLES.items():
        assert role in by_email[email], (role, email)
