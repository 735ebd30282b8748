"""The dashboard's pages over ASGI: what a retention manager sees, and what a stranger cannot."""

import csv
import io
import re

from httpx import AsyncClient
from markupsafe import escape
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import create_key
from tests.conftest import NOW
from tests.ui.conftest import form_value, sign_in
from tests.ui.data import Headers, create_campaign, load_population


def client_ids(html: str) -> list[str]:
    return re.findall(r'href="/ui/clients/([^"?]+)"', html)


async def test_pages_redirect_to_sign_in_and_come_back(
    browser: AsyncClient, keys: dict[str, str]
) -> None:
    response = await browser.get("/ui/clients", params={"status": "lost"})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/sign-in?next=%2Fui%2Fclients%3Fstatus%3Dlost"
    page = await browser.get(response.headers["location"])
    assert form_value(page.text, "next") == "/ui/clients?status=lost"
    signed = await browser.post(
        "/ui/sign-in",
        data={
            "key": keys["reader"],
            "next": "/ui/clients?status=lost",
            "form_token": form_value(page.text, "form_token"),
        },
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/ui/clients?status=lost"
    assert (await browser.get("/ui/clients?status=lost")).status_code == 200


async def test_session_cookie_is_httponly_strict_and_holds_no_key(
    browser: AsyncClient, keys: dict[str, str]
) -> None:
    page = await browser.get("/ui/sign-in")
    response = await browser.post(
        "/ui/sign-in",
        data={
            "key": keys["reader"],
            "next": "/ui",
            "form_token": form_value(page.text, "form_token"),
        },
    )
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "winback_session" in v
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http here; https requests get Secure
    # wbk_<hex id>_<secret>: the secret (URL-safe base64, which may hold "_") is all after the id
    secret_part = keys["reader"].split("_", 2)[2]
    assert len(secret_part) >= 40 and secret_part not in cookie
    assert keys["reader"] not in response.headers.get("location", "")


async def test_sign_in_refuses_unknown_keys_forged_forms_and_foreign_next(
    browser: AsyncClient, keys: dict[str, str]
) -> None:
    page = await browser.get("/ui/sign-in")
    token = form_value(page.text, "form_token")
    wrong = await browser.post(
        "/ui/sign-in", data={"key": "wbk_nope_nope", "next": "/ui", "form_token": token}
    )
    assert wrong.status_code == 401
    assert "unknown or revoked" in wrong.text
    assert "winback_session" not in wrong.headers.get("set-cookie", "")
    # a form posted from elsewhere has no sign-in token of this browser
    forged = await browser.post(
        "/ui/sign-in", data={"key": keys["reader"], "next": "/ui", "form_token": "made-up"}
    )
    assert forged.status_code == 403
    accented = await browser.post(
        "/ui/sign-in", data={"key": keys["reader"], "next": "/ui", "form_token": "gefälscht"}
    )
    assert accented.status_code == 403  # a non-ASCII token is refused, not a 500
    for target in ("https://evil.example/", "//evil.example/ui", "/v1/clients", "javascript:x"):
        page = await browser.get("/ui/sign-in")
        response = await browser.post(
            "/ui/sign-in",
            data={
                "key": keys["reader"],
                "next": target,
                "form_token": form_value(page.text, "form_token"),
            },
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/ui", target
        browser.cookies.clear()


async def test_env_admin_key_signs_in(browser: AsyncClient) -> None:
    from tests.ui.conftest import ADMIN_KEY

    await sign_in(browser, ADMIN_KEY)
    page = await browser.get("/ui/policy")
    assert page.status_code == 200
    assert "Save changes" in page.text


async def test_overview_counts_value_at_risk_and_charts(
    browser: AsyncClient,
    ui_api: AsyncClient,
    headers: Headers,
    keys: dict[str, str],
    session: AsyncSession,
) -> None:
    await load_population(ui_api, headers, session)
    stats = (await ui_api.get("/v1/stats", headers=headers["reader"])).json()
    await sign_in(browser, keys["reader"])
    page = await browser.get("/ui")
    assert page.status_code == 200
    html = page.text
    assert f"{stats['clients']:,}" in html
    # the API's value at risk, written with the policy currency and thousands separators
    at_risk = float(stats["value_at_risk"])
    assert at_risk >= 1000
    assert f"€{at_risk:,.2f}" in html
    assert html.count('role="img"') >= 2  # churn by month, lost value by reason
    assert "Churn rate by month" in html
    assert 'href="/ui/clients?status=lost&amp;tier=A"' in html


async def test_overview_says_when_its_figures_were_computed_and_keeps_them(
    browser: AsyncClient,
    ui_api: AsyncClient,
    headers: Headers,
    keys: dict[str, str],
    session: AsyncSession,
) -> None:
    await load_population(ui_api, headers, session)
    clients = (await ui_api.get("/v1/stats", headers=headers["reader"])).json()["clients"]
    await sign_in(browser, keys["reader"])
    first = (await browser.get("/ui")).text
    assert "Figures as of" in first and f">{clients:,}<" in first
    newcomer = {
        "id": "newcomer-o1",
        "type": "order.placed",
        "occurred_at": "2026-11-01T10:00:00Z",
        "client_id": "newcomer",
        "data": {"order_id": "n1", "amount": "10.00"},
    }
    posted = await ui_api.post("/v1/events", json=newcomer, headers=headers["writer"])
    assert posted.status_code == 201, posted.text
    assert f">{clients:,}<" in (await browser.get("/ui")).text  # kept: under a minute old


async def test_client_list_filters_sorts_and_pages(
    browser: AsyncClient,
    ui_api: AsyncClient,
    headers: Headers,
    keys: dict[str, str],
    session: AsyncSession,
) -> None:
    await load_population(ui_api, headers, session)
    await sign_in(browser, keys["reader"])
    api_lost_a = await ui_api.get(
        "/v1/clients", params={"status": "lost", "tier": "A"}, headers=headers["reader"]
    )
    expected = [c["client_id"] for c in api_lost_a.json()["items"]]
    assert len(expected) >= 4
    page = await browser.get("/ui/clients", params=[("status", "lost"), ("tier", "A")])
    assert page.status_code == 200
    assert client_ids(page.text) == expected
    assert 'value="lost" checked' in page.text
    assert "risk-a" not in client_ids(page.text)
    assert '<span class="badge status-lost">lost</span>' in page.text
    assert '<span class="badge tier-A">A</span>' in page.text
    # signals as chips
    unresp = await browser.get("/ui/clients", params={"signal": "unresponsive"})
    assert client_ids(unresp.text) == ["lost-unresp"]
    assert '<span class="chip chip-unresponsive">unresponsive</span>' in unresp.text
    # keyset paging, two at a time, with the API's cursors: every client once, in order
    seen: list[str] = []
    url: str | None = "/ui/clients?status=lost&tier=A&limit=2"
    while url:
        page = await browser.get(url)
        seen += client_ids(page.text)
        found = re.search(r'rel="next" href="([^"]+)"', page.text)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == expected


async def test_csv_export_is_the_api_csv(
    browser: AsyncClient,
    ui_api: AsyncClient,
    headers: Headers,
    keys: dict[str, str],
    session: AsyncSession,
) -> None:
    await load_population(ui_api, headers, session)
    await sign_in(browser, keys["reader"])
    page = await browser.get("/ui/clients", params={"status": "lost", "sort": "last_order_desc"})
    link = re.search(r'href="(/ui/clients\.csv\?[^"]+)"', page.text)
    assert link
    exported = await browser.get(link.group(1).replace("&amp;", "&"))
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    api_csv = await ui_api.get(
        "/v1/clients",
        params={"status": "lost", "sort": "last_order_desc"},
        headers=headers["reader"] | {"Accept": "text/csv"},
    )
    assert exported.text == api_csv.text
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows and {row["status"] for row in rows} == {"lost"}


async def test_client_page_signals_timeline_history_and_plan(
    browser: AsyncClient,
    ui_api: AsyncClient,
    headers: Headers,
    keys: dict[str, str],
    session: AsyncSession,
) -> None:
    await load_population(ui_api, headers, session)
    plan = (
        await ui_api.get("/v1/clients/lost-unresp/recovery-plan", headers=headers["reader"])
    ).json()
    await sign_in(browser, keys["reader"])
    page = await browser.get("/ui/clients/lost-unresp")
    assert page.status_code == 200
    html = page.text
    assert "Client lost-unresp" in html
    assert '<span class="chip chip-unresponsive">unresponsive</span>' in html
    assert "unanswered" in html  # the evidence of the signal, in words
    # the timeline: four orders as points, the expected next order, the at-risk and lost lines
    assert html.count('class="order"') == 4
    for mark in ("mark-expected", "mark-at-risk", "mark-lost", "mark-now"):
        assert f"mark {mark}" in html
    # the plan as the API computes it, steps in order
    assert plan["steps"]
    at = html.index("<h3>Steps</h3>")
    for step in plan["steps"]:  # each goal, in the API's order (str.index raises if missing)
        at = html.index(str(escape(step["goal"])), at + 1)
    assert plan["decision"].replace("_", " ") in html
    # status history: it went active -> at risk -> lost
    assert 'class="badge status-lost">lost</span>' in html
    assert "Status history" in html and "No status change recorded" not in html


async def test_unknown_client_and_bad_filter_are_pages(
    browser: AsyncClient, keys: dict[str, str]
) -> None:
    await sign_in(browser, keys["reader"])
    missing = await browser.get("/ui/clients/nobody-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "nobody-here" in missing.text
    bad = await browser.get("/ui/clients", params={"status": "sleeping"})
    assert bad.status_code == 422
    assert "sleeping" in bad.text and bad.headers["content-type"].startswith("text/html")
    # the API keeps its problem documents
    api = await browser.get("/v1/clients/nobody-here")
    assert api.headers["content-type"].startswith("application/problem+json")
    # text the database cannot store is refused before it gets there
    for hostile in ("/ui/clients/a%00b", "/ui/clients?manager_id=m%00", "/ui/campaigns/c%00"):
        refused = await browser.get(hostile)
        assert refused.status_code == 422, hostile
        assert "NUL" in refused.text, hostile


async def test_campaigns_list_results_members_and_close(
    browser: AsyncClient,
    other_browser: AsyncClient,
    ui_api: AsyncClient,
    headers: Headers,
    keys: dict[str, str],
    session: AsyncSession,
) -> None:
    await load_population(ui_api, headers, session)
    created = await create_campaign(ui_api, headers)
    await sign_in(browser, keys["reader"])
    listing = await browser.get("/ui/campaigns")
    assert "Lost tier A, autumn" in listing.text
    page = await browser.get("/ui/campaigns/cmp_ui_lost")
    assert page.status_code == 200
    assert "Uplift in win-back rate" in page.text  # the interval, drawn
    treatment = created["members"]["treatment"]
    assert f"Treatment ({treatment})" in page.text
    assert len(client_ids(page.text)) == treatment
    # a clients:read key sees no admin action, and cannot close by posting anyway
    assert "Close campaign" not in page.text
    refused = await browser.post(
        "/ui/campaigns/cmp_ui_lost/close", data={"csrf": form_value(page.text, "csrf")}
    )
    assert refused.status_code == 403
    assert "campaigns:write" in refused.text
    # a key that reads and writes campaigns closes it, with the form's CSRF token only
    _, manager_key = await create_key(
        session, "ui manager", ["clients:read", "campaigns:write"], NOW
    )
    await sign_in(other_browser, manager_key)
    page = await other_browser.get("/ui/campaigns/cmp_ui_lost")
    assert "Close campaign" in page.text
    forged = await other_browser.post("/ui/campaigns/cmp_ui_lost/close", data={"csrf": "x"})
    assert forged.status_code == 403
    closed = await other_browser.post(
        "/ui/campaigns/cmp_ui_lost/close", data={"csrf": form_value(page.text, "csrf")}
    )
    assert closed.status_code == 303
    state = await ui_api.get("/v1/campaigns/cmp_ui_lost", headers=headers["reader"])
    assert state.json()["status"] == "closed"


async def test_policy_read_only_for_readers_editable_by_admins_with_csrf(
    browser: AsyncClient,
    other_browser: AsyncClient,
    ui_api: AsyncClient,
    headers: Headers,
    keys: dict[str, str],
) -> None:
    await sign_in(browser, keys["reader"])
    page = await browser.get("/ui/policy")
    assert page.status_code == 200
    assert "at_risk_cycles" in page.text and "Read-only" in page.text
    assert "<input" not in page.text.split("<main", 1)[1]
    refused = await browser.post(
        "/ui/policy",
        data={"csrf": form_value(page.text, "csrf"), "version": "0", "at_risk_cycles": "2"},
    )
    assert refused.status_code == 403
    await sign_in(other_browser, keys["admin"])
    page = await other_browser.get("/ui/policy")
    version = form_value(page.text, "version")
    without_token = await other_browser.post(
        "/ui/policy", data={"version": version, "at_risk_cycles": "2"}
    )
    assert without_token.status_code == 403
    policy = (await ui_api.get("/v1/policy", headers=headers["reader"])).json()
    assert policy["policy"]["at_risk_cycles"] == 1.5
    form = {"csrf": form_value(page.text, "csrf"), "version": version, "at_risk_cycles": "2"}
    saved = await other_browser.post("/ui/policy", data=form)
    assert saved.status_code == 303
    policy = (await ui_api.get("/v1/policy", headers=headers["reader"])).json()
    assert policy["policy"]["at_risk_cycles"] == 2
    assert policy["policy"]["lost_cycles"] == 3.0  # the rest as it was
    # an invalid value is refused with the field named, nothing stored
    form |= {"version": str(policy["version"]), "lost_cycles": "1"}
    invalid = await other_browser.post("/ui/policy", data=form)
    assert invalid.status_code == 422
    assert "lost_cycles" in invalid.text


async def test_scope_respected_and_revoked_key_signed_out(
    browser: AsyncClient, other_browser: AsyncClient, keys: dict[str, str], session: AsyncSession
) -> None:
    from app.auth.service import revoke

    await sign_in(other_browser, keys["writer"])  # events:write only
    page = await other_browser.get("/ui")
    assert page.status_code == 403
    assert "clients:read" in page.text

    key_id, key = await create_key(session, "ui revoke test", ["clients:read"], NOW)
    await sign_in(browser, key)
    assert (await browser.get("/ui/clients")).status_code == 200
    assert await revoke(session, key_id, NOW)
    after = await browser.get("/ui/clients")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/ui/sign-in")


async def test_sign_out_needs_the_csrf_token_and_ends_the_session(
    browser: AsyncClient, keys: dict[str, str]
) -> None:
    await sign_in(browser, keys["reader"])
    page = await browser.get("/ui")
    assert (await browser.post("/ui/sign-out", data={})).status_code == 403
    forged = await browser.post("/ui/sign-out", data={"csrf": "fälschung-ü"})
    assert forged.status_code == 403  # not a 500 on a non-ASCII token
    assert (await browser.get("/ui")).status_code == 200
    out = await browser.post("/ui/sign-out", data={"csrf": form_value(page.text, "csrf")})
    assert out.status_code == 303
    assert (await browser.get("/ui")).status_code == 303


async def test_a_tampered_cookie_is_no_session(browser: AsyncClient, keys: dict[str, str]) -> None:
    await sign_in(browser, keys["reader"])
    value = browser.cookies["winback_session"]
    payload, signature = value.split(".")
    browser.cookies.clear()
    browser.cookies.set("winback_session", payload + "x." + signature, domain="test", path="/ui")
    assert (await browser.get("/ui")).status_code == 303


async def test_ui_is_not_in_the_openapi_document(browser: AsyncClient) -> None:
    paths = (await browser.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith("/ui")]


async def test_static_assets_are_served_locally(browser: AsyncClient) -> None:
    css = await browser.get("/ui/static/ui.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    page = await browser.get("/ui/sign-in")
    assert "http://" not in page.text and "https://" not in page.text  # nothing remote
    assert "default-src 'self'" in page.headers["content-security-policy"]
