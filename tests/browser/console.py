#!/usr/bin/env python3
"""Staff and a customer in the console, in a real browser (.ci/run runs this on SQLite and on
PostgreSQL after `cargo test`).

Starts `orderly serve` on a free loopback port with a copy of the shipped workflows, three clerks
added with `orderly user add` (ann, bob, and carol who works the CSR queue) and an API token
that plays the other systems (the web store, Salesforce), then drives Debian's Chromium
(headless, through Playwright) through what the seeds' staff do:

  1. ann logs in, finds a cart order on the board by its number, and locks it;
  2. the order is a possible duplicate: she finds the customer (Find Cust), links the order to
     them, and merges the customer made for the order into the one kept;
  3. she records a partial fulfillment action, ships part of the order (one of two lines, with
     UPS tracking) and emails the customer;
  4. bob opens the same order: he sees ann's lock, is told before sending that his events would
     be refused, and his attempt to take the order is refused;
  5. carol takes a repair order from the CSR queue ("In queue"), and finds it in "My open";
  6. an event a guard refuses shows why, guard by guard, and changes nothing;
  7. a phone order is entered on New order: the preview shows where it will start, then it is
     created; the Workflows and Outbox screens show the orders and the messages;
  8. the board updates by itself when another system creates an order;
  9. a request without the form token, and one without a session, are refused;
 10. the customer opens /track on a phone: the visible actions and the tracking link, no prices.

Screenshots of each screen go to target/screenshots/console-*.png (with --screens DIR, there
too: docs/screens/ holds the ones the docs show). Any step that does not show what it should
fails the run (exit 1). The service is always stopped, and a PostgreSQL database made for the
run is dropped.

Usage: python tests/browser/console.py [--binary target/debug/orderly] [--chromium /usr/bin/chromium]
           [--postgres postgres://postgres@127.0.0.1:5432/postgres] [--screens docs/screens]
"""

import argparse
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

import common
from common import free_port

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "target" / "screenshots"
PASSWORD = "a long clerk password"
TOKEN = "browser-test-systems-token-0123456789"
EXTRA_SHOTS = []


def log(message):
    print(f"[console] {message}", flush=True)






def start_service(binary, work, database):
    shutil.copytree(ROOT / "workflows", work / "workflows")
    config = work / "orderly.toml"
    config.write_text(
        "track_name = \"Harmony Music\"\n\n"
        "[[tokens]]\nname = \"systems\"\nsecret = \"%s\"\nscopes = [\"admin\"]\n" % TOKEN
    )
    for name, role in [("ann", "clerk"), ("bob", "clerk"), ("carol", "clerk"), ("boss", "admin")]:
        add = subprocess.run(
            [binary, "user", "add", name, "--role", role, "--password-stdin", "--config", str(config)],
            input=PASSWORD + "\n", text=True, capture_output=True, cwd=work,
        )
        if add.returncode != 0:
            raise SystemExit(f"orderly user add failed: {add.stderr}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [binary, "serve", "--config", str(config), "--bind", f"127.0.0.1:{port}",
         "--database", database, "--workflows", str(work / "workflows")],
        cwd=work, stdout=open(work / "serve.log", "w"), stderr=subprocess.STDOUT,
    )
    common.wait_for(proc, base, work / "serve.log")
    return proc, base


def must(status, body, what, expected=(200, 201)):
    if status not in expected:
        raise SystemExit(f"{what} failed: {status} {body}")
    return body


def seed(base):
    """What the other systems sent: a cart order, a repair handed to Salesforce, a check order."""
    # Sue ordered before for her company; today's cart order names her own studio: a new
    # customer with the same email, flagged a possible duplicate for staff to look at.
    must(*common.api(base, TOKEN, "POST", "/v1/orders", {
        "workflow": "fulfillment", "channel": "website", "number": "CART-0999",
        "customer": {"email": "sue@example.com", "first_name": "Sue", "last_name": "Fill", "company": "Fill & Co"},
        "payment": {"method": "credit_card", "outcome": "approved"},
        "lines": [{"sku": "BK-102", "qty": 1, "unit_price": "9.00", "in_stock": True}],
    }), "Sue's first order")
    must(*common.api(base, TOKEN, "POST", "/v1/orders", {
        "workflow": "fulfillment", "channel": "website", "number": "CART-1001",
        "customer": {"email": "sue@example.com", "first_name": "Sue", "last_name": "Fill", "company": "Sue's Studio"},
        "shipping_address": {"address": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701"},
        "payment": {"method": "credit_card", "outcome": "approved"},
        "lines": [
            {"sku": "BK-101", "description": "Songbook", "qty": 2, "unit_price": "18.00", "in_stock": True},
            {"sku": "CD-7", "description": "Practice CD", "qty": 1, "unit_price": "12.00", "in_stock": True},
        ],
    }), "the cart order")
    must(*common.api(base, TOKEN, "POST", "/v1/orders", {
        "workflow": "repair_store", "channel": "website", "number": "REP-2001",
        "customer": {"email": "rick@example.com", "first_name": "Rick", "last_name": "Pair"},
        "shipping_address": {"address": "9 Elm St", "city": "Dayton", "state": "OH", "zip": "45402"},
        "payment": {"method": "credit_card", "outcome": "approved"},
        "lines": [{"sku": "REPAIR-AMP", "description": "Amplifier repair", "qty": 1, "unit_price": "0"}],
    }), "the repair order")
    must(*common.api(base, TOKEN, "POST", "/v1/orders/REP-2001/events", {
        "event": "crm_accepted", "data": {"order_kind": "repair", "opportunity_id": "OPP-1", "quote_id": "Q-1"},
    }), "Salesforce's answer")
    must(*common.api(base, TOKEN, "POST", "/v1/orders", {
        "workflow": "retail", "channel": "website", "number": "WEB-3001",
        "customer": {"email": "chuck@example.com", "first_name": "Chuck"},
        "payment": {"method": "check", "outcome": "pending"},
        "lines": [{"sku": "GUITAR-1", "qty": 1, "unit_price": "499.00"}],
    }), "the check order")


def shot(page, name, full=True):
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=full)
    for extra in EXTRA_SHOTS:
        extra.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, extra / f"{name}.png")


def login(page, base, name):
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(base + "/")
    expect(page.locator(".top .user")).to_have_text(name)


def done(page, text):
    expect(page.locator("#done")).to_contain_text(text)


def ann_works_the_cart_order(page, base):
    # 1. the board, a search by number, the lock
    login(page, base, "ann")
    expect(page.locator("#orders tr[data-number='CART-1001']")).to_be_visible()
    shot(page, "board")
    page.fill("#search", "CART-1001")
    page.click("form.filters button[type=submit]")
    expect(page.locator("#orders tbody tr")).to_have_count(1)
    page.click("#orders tr[data-number='CART-1001'] a")
    expect(page.locator("#order")).to_have_attribute("data-number", "CART-1001")
    page.click("#take-lock")
    done(page, "You hold the lock")
    expect(page.locator("#lock")).to_contain_text("You hold the lock")
    log("ann found CART-1001 on the board and locked it")

    # 2. Find Cust: the order is a possible duplicate; search the book and link the order to
    # the customer Sue already was
    expect(page.locator(".flag", has_text="possible_duplicate")).to_be_visible()
    page.click("#find-cust")
    expect(page.locator("#customers")).to_be_visible()
    page.fill("input[name=q]", "Fill & Co")
    page.click("form.customer-search button[type=submit]")
    rows = page.locator("#customers tr[data-customer]")
    expect(rows).to_have_count(1)
    shot(page, "find-customer")
    rows.first.locator("button.link-customer").click()
    done(page, "linked")
    expect(page.locator("#customer")).to_contain_text("Fill & Co")
    expect(page.locator(".flag", has_text="possible_duplicate")).to_have_count(0)
    expect(page.locator("#history li[data-kind=customer_linked]")).to_contain_text("by ann")
    # The customer made for today's order is the same person: merge it into the one kept.
    order_page = page.url.split("?")[0]
    page.click("#customer-link")
    alike = page.locator("#alike tr[data-customer]")
    expect(alike).to_have_count(1)
    alike.first.locator("button.merge").click()
    done(page, "merged")
    expect(page.locator("#alike")).to_have_count(0)
    expect(page.locator("#customer-orders tr[data-number='CART-1001']")).to_be_visible()
    page.goto(order_page)
    log("ann linked the order to a customer from Find Cust")
    return ann_part_three(page)


def ann_part_three(page):

    # 3. a partial fulfillment action, a partial shipment, an email
    form = page.locator("#add-action")
    form.locator("select[name=name]").select_option("Packed")
    form.locator("select[name=extent]").select_option("partial")
    form.locator("input[name=notify]").fill("Warehouse lead")
    form.locator("input[name=note]").fill("The songbooks are packed; the CD is on its way")
    form.locator("button[type=submit]").click()
    done(page, "fulfillment action")
    expect(page.locator("#actions tr", has_text="Packed")).to_contain_text("partial")
    ship = page.locator("form.event-row[data-event=shipment]")
    ship.locator("input[name='data.carrier']").fill("UPS")
    ship.locator("input[name='data.tracking_number']").fill("1Z999AA10123456784")
    ship.locator("details.per-line summary").click()
    ship.locator("input[name='lines.1']").fill("2")
    ship.locator("button[type=submit]").click()
    done(page, "event was applied")
    shipped = page.locator("#lines tbody tr").first.locator("td").nth(8)
    expect(shipped).to_have_text("2")
    expect(page.locator("#lines tbody tr").nth(1).locator("td").nth(8)).to_have_text("0")
    link = page.locator("#shipments a")
    expect(link).to_have_attribute("href", re.compile(r"^https://www\.ups\.com/track\?tracknum=1Z999AA10123456784$"))
    email = page.locator("#email form")
    body = email.locator("textarea[name=body]").input_value()
    if "1Z999AA10123456784" not in body:
        raise SystemExit("the email is not prefilled with the tracking number: " + body)
    email.locator("button[type=submit]").click()
    done(page, "email is queued")
    expect(page.locator("#history li[data-kind=emailed]")).to_contain_text("by ann")
    shot(page, "order")
    log("ann recorded a partial action, shipped 2 of 3 units with UPS tracking and emailed the customer")
    return page.url


def bob_is_kept_out(browser, base, order_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    login(page, base, "bob")
    page.goto(order_url)
    expect(page.locator("#lock")).to_contain_text("Locked by ann")
    expect(page.locator("#events-locked")).to_contain_text("ann holds the lock")
    expect(page.locator("form.event-row[data-event=picked] button")).to_be_disabled()
    page.click("#assign-me")
    expect(page.locator("#problem")).to_have_attribute("data-code", "locked")
    expect(page.locator("#assignee")).to_have_text("nobody")
    shot(page, "locked")
    log("bob sees ann's lock, is told his events would be refused, and cannot take the order")
    context.close()


def carol_takes_from_the_queue(browser, base):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    login(page, base, "carol")
    page.click("#view-queue")
    row = page.locator("#orders tr[data-number='REP-2001']")
    expect(row).to_be_visible()
    shot(page, "in-queue")
    row.locator("a").click()
    expect(page.locator("#queue")).to_have_text("csr")
    page.click("#assign-me")
    done(page, "assignment")
    expect(page.locator("#assignee")).to_have_text("carol")
    page.goto(base + "/?view=mine")
    expect(page.locator("#orders tr[data-number='REP-2001']")).to_be_visible()
    page.goto(base + "/?view=queue")
    expect(page.locator("#orders tr[data-number='REP-2001']")).to_have_count(0)
    log("carol took REP-2001 from the CSR queue; it is in her My open")
    context.close()


def a_refusal_says_why(page, base):
    page.goto(base + "/orders/WEB-3001")
    form = page.locator("form.event-row[data-event=payment_received]")
    form.locator("input[name='data.method']").fill("check")
    form.locator("input[name='data.outcome']").fill("declined")
    form.locator("button[type=submit]").click()
    problem = page.locator("#problem")
    expect(problem).to_have_attribute("data-code", "no_transition")
    expect(problem).to_contain_text("event.outcome")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "awaiting_payment")
    shot(page, "refused")
    log("a refused payment shows why: " + problem.locator("li").first.inner_text())


def a_phone_order(page, base):
    page.click(".top nav a[href='/orders/new']")
    page.click("#channels a[href*='workflow=retail'][href*='channel=soi']")
    page.select_option("select[name=mode]", "phone")
    page.fill("input[name='customer.email']", "pat@example.com")
    page.fill("input[name='customer.first_name']", "Pat")
    page.fill("input[name='customer.last_name']", "Caller")
    page.fill("input[name='payment.method']", "credit_card")
    page.select_option("select[name='payment.outcome']", "approved")
    page.fill("textarea[name=lines]", "GTR-100, 1, 499.00, Acoustic guitar")
    page.click("#preview")
    predicted = page.locator("#predicted")
    expect(predicted).to_contain_text("It will start in")
    status = predicted.get_attribute("data-status")
    shot(page, "new-order")
    page.click("#create")
    done(page, "order is created")
    expect(page.locator("#order-status")).to_have_attribute("data-status", status)
    log(f"a phone order: the preview said {status}, and it started there")
    page.click(".top nav a[href='/workflows']")
    expect(page.locator("#workflow-retail svg")).to_be_visible()
    shot(page, "workflows")
    page.click(".top nav a[href='/outbox']")
    expect(page.locator("#messages tr").first).to_be_visible()
    shot(page, "outbox")


def the_board_is_live(page, base):
    page.goto(base + "/")
    expect(page.locator("#live")).to_be_visible(timeout=5_000)
    must(*common.api(base, TOKEN, "POST", "/v1/orders", {
        "workflow": "fulfillment", "channel": "website", "number": "CART-LIVE",
        "customer": {"email": "late@example.com"},
        "payment": {"method": "credit_card", "outcome": "approved"},
        "lines": [{"sku": "BK-101", "qty": 1, "unit_price": "18.00"}],
    }), "an order while the board is open")
    expect(page.locator("#orders tr[data-number='CART-LIVE']")).to_be_visible(timeout=10_000)
    log("the board showed an order another system created, without a reload")


def forged_requests_are_refused(page, browser, base, order_url):
    order_id = order_url.split("/orders/")[1].split("?")[0]
    res = page.request.post(f"{base}/orders/{order_id}/lock", form={"action": "unlock"})
    if res.status != 403:
        raise SystemExit(f"a POST without the form token answered {res.status}")
    anonymous = browser.new_context()
    res = anonymous.request.post(f"{base}/orders/{order_id}/lock", form={"action": "unlock"}, max_redirects=0)
    anonymous.close()
    if res.status != 401:
        raise SystemExit(f"a POST without a session answered {res.status}")
    log("a POST without the form token (403) and one without a session (401) were refused")


def the_customer_tracks_it(browser, base):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(base + "/track")
    page.fill("input[name=number]", "CART-1001")
    page.fill("input[name=email]", "SUE@example.com")
    page.click("button[type=submit]")
    expect(page.locator("#tracked")).to_be_visible()
    expect(page.locator("#progress")).to_contain_text("Packed (in part)")
    expect(page.locator("#shipments a")).to_have_attribute("href", re.compile(r"ups\.com/track"))
    expect(page.locator(".store-name")).to_have_text("Harmony Music")
    content = page.content()
    for price in ["18.00", "12.00", "48.00"]:
        if price in content:
            raise SystemExit(f"the customer's page shows a price ({price})")
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > 390:
        raise SystemExit(f"the customer's page is wider than the phone: {width}px")
    shot(page, "track-phone")
    log("the customer sees the partial action and the UPS link on a phone, no prices")
    context.close()


def session(browser, base):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def console(m):
        # Refusals answer 4xx on purpose: Chromium logs each such document's status.
        expected = re.search(r"status of (401|403|409|422|423)", m.text) is not None
        if m.type == "error" and not expected:
            errors.append(f"console: {m.text} at {m.location}")
    page.on("console", console)
    try:
        order_url = ann_works_the_cart_order(page, base)
        bob_is_kept_out(browser, base, order_url)
        carol_takes_from_the_queue(browser, base)
        a_refusal_says_why(page, base)
        a_phone_order(page, base)
        the_board_is_live(page, base)
        forged_requests_are_refused(page, browser, base, order_url)
        the_customer_tracks_it(browser, base)
    except Exception:
        shot(page, "failed")
        raise
    if errors:
        raise SystemExit("the pages reported errors:\n" + "\n".join(errors))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(ROOT / "target" / "debug" / "orderly"))
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--postgres", help="a PostgreSQL server URL: run on a database made there")
    parser.add_argument("--screens", help="also copy the screenshots to this folder")
    args = parser.parse_args()
    if args.screens:
        EXTRA_SHOTS.append(Path(args.screens))
    binary = str(Path(args.binary).resolve())
    dbname = None
    with tempfile.TemporaryDirectory(prefix="orderly-console-") as tmp:
        work = Path(tmp)
        if args.postgres:
            dbname = f"orderly_console_{os.getpid()}"
            subprocess.run(["psql", args.postgres, "-qc", f"DROP DATABASE IF EXISTS {dbname}"], check=True, env={**os.environ, "PGOPTIONS": "--client-min-messages=warning"})
            subprocess.run(["psql", args.postgres, "-qc", f"CREATE DATABASE {dbname}"], check=True)
            database = args.postgres.rsplit("/", 1)[0] + "/" + dbname
        else:
            database = f"sqlite://{work / 'orderly.db'}"
        backend = "PostgreSQL" if args.postgres else "SQLite"
        log(f"on {backend}")
        proc, base = start_service(binary, work, database)
        try:
            seed(base)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, headless=True,
                                            args=["--no-sandbox", "--disable-dev-shm-usage"])
                try:
                    session(browser, base)
                except Exception:
                    log("the service log:\n" + (work / "serve.log").read_text()[-4000:])
                    raise
                finally:
                    browser.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise SystemExit("orderly serve did not stop within 10 s of SIGTERM")
            if dbname:
                subprocess.run(["psql", args.postgres, "-qc", f"DROP DATABASE IF EXISTS {dbname}"])
    log(f"the staff's and the customer's sessions passed on {backend}; screenshots in target/screenshots/")


if __name__ == "__main__":
    main()
