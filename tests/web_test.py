#!/usr/bin/env python3
"""The web page at GET / in a real browser (run by .ci/run; not a unit test).

Starts the real memtyped on loopback with a fresh store, seeds it over HTTP,
and drives Debian's chromium (headless, through Debian's chromium-driver:
no browser download) with selenium:

- Decide: the bochs example, one keypress away, sends exactly openapi.yaml's
  BochsDecisionRequest; the answer shows effective type UC, EPT WB with
  IPAT=0, guest PAT entry 2 (UC-), Table 11-7 drawn from GET
  /v1/effective-types with the WB x UC- cell (and only it) highlighted, the
  trace and the quirk states. A bad field is answered with the problem's
  detail and the field marked.
- VMs: the list, the label and restart-required filters, one VM's record,
  history (two pages) and kvm-quirks. Several labels (commas between) list
  what GET /v1/vms lists for one `label` parameter each; a bad pair is named
  before any request, and the server's 422 (one key, two values) is shown.
  The page's pattern for a pair is openapi.yaml's.
- Placements: a VM's page has the table of GET /v1/vms/{id}/placements,
  each host profile with the API's verdict, changes and reasons.
- Risks and plans: a VM honoring guest PAT with VGA and guest 6.1 on
  Sapphire Rapids 6.16 is listed at risk (GET /v1/risks), and the plan back
  to 6.15 (GET /v1/hosts/{name}/kernel-plan) says its behaviour cannot be kept.
  Its label filter takes several labels too.
- A server with --read-auth: the VM list says a token is needed; with the
  token entered in the page it lists.
- Phone width (375 CSS pixels, a mobile viewport): no view is wider than the
  screen, and Table 11-7 and the placements table fit without scrolling.
- Every form control has a label; the browser logs no error (a Content
  Security Policy violation included).

Usage: tests/web_test.py --bin PATH/memtyped [--screenshot docs/web-page.png]
Needs: chromium and chromium-driver (apt), selenium and PyYAML (pip, in a venv).
"""
import argparse, json, os, shutil, sys, urllib.parse

import yaml
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

import support
from support import ROOT, check

WORK = support.work_dir("memtyped-web-")
TOKEN = "web-test-token-0123456789abcdef"


class Server(support.Memtyped):
    """memtyped with a store of its own (`name`), the test's token, and WORK as its directory."""

    def __init__(self, binary, name, extra=()):
        tokens = support.write(os.path.join(WORK, "tokens"), f"web {TOKEN}\n")
        super().__init__(binary, ["--host", "127.0.0.1", "--db", os.path.join(WORK, name + ".sqlite"),
                                  "--tokens", tokens, *extra],
                         log=os.path.join(WORK, name + ".log"), cwd=WORK, token=TOKEN)
        self.base = self.url

    def send(self, method, path, body, expect):
        """A write the checks build on: any other status than `expect` ends the run."""
        status = self.call(method, path, body).status
        if status != expect:
            sys.exit(f"seeding {method} {path}: {status}, expected {expect}")

    def seed(self):
        """The VMs the VMs view shows: web-01 (a create and a patch in its history), desk-02
        (a restart required), and busy-03, whose 56 history entries take two pages; a second
        host profile, skx-6-15, for the placements."""
        self.send("PUT", "/v1/hosts/spr-6-16", {"vendor": "intel", "self_snoop": True,
                                                "cpu": {"family": 6, "model": "0x8f"}, "kernel": "6.16"}, 201)
        self.send("PUT", "/v1/hosts/skx-6-15", {"vendor": "intel", "self_snoop": True,
                                                "cpu": {"family": 6, "model": "0x55"}, "kernel": "6.15"}, 201)
        self.send("PUT", "/v1/vms/web-01", {"host_profile": "spr-6-16", "display_devices": ["VGA"],
                                            "guest_kernel": "6.1", "labels": {"team": "web"}}, 201)
        self.send("PATCH", "/v1/vms/web-01", {"labels": {"owner": "web-oncall"}}, 200)
        self.send("PUT", "/v1/vms/desk-02", {"baseline": "honor-guest-pat-2025", "labels": {"team": "desktop"},
                                             "host": {"cpu": {"family": 6, "model": 106}, "kernel": "6.18"}}, 201)
        # desk-02 started at revision 1 (as the libvirt hook reports it), then its quirks changed.
        self.send("PUT", "/v1/vms/desk-02/applied", {"revision": 1}, 200)
        self.send("PATCH", "/v1/vms/desk-02", {"quirks": {"IGNORE_GUEST_PAT": "keep_enabled"}}, 200)
        self.send("PUT", "/v1/vms/busy-03", {"host_profile": "spr-6-16", "labels": {"team": "desktop"}}, 201)
        for n in range(55):
            self.send("PATCH", "/v1/vms/busy-03", {"labels": {"step": str(n)}}, 200)

    def stop(self):
        check(super().stop() == 0, "memtyped exits cleanly on SIGTERM")


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
                "--hide-scrollbars", "--lang=en-US"):
        options.add_argument(arg)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # chromium refuses to run as root with its sandbox
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The system chromedriver named outright: selenium's manager then downloads nothing.
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


def wait(driver, what, condition, timeout=15):
    try:
        # The page redraws by replacing elements: one found a moment ago may be gone.
        return WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException]).until(condition)
    except Exception as e:
        status = driver.execute_script("return document.getElementById('status').textContent")
        check(False, f"{what} ({type(e).__name__} at {driver.current_url}; the page says {status!r})")
        return None


def visible(driver, css):
    els = driver.find_elements(By.CSS_SELECTOR, css)
    return els[0] if els and els[0].is_displayed() else None


def text(driver, css):
    el = visible(driver, css)
    return el.text if el else ""


def hold_fetches(driver, marker):
    """Until release_fetches(), the page's fetches whose URL contains `marker` are answered by
    the server but not handed to the page: a slow answer, on cue."""
    driver.execute_script("""
      const [marker, fetch0] = [arguments[0], window.fetch];
      let release;
      const released = new Promise((ok) => { release = ok; });
      window.held = { count: 0, delivered: 0, release: () => { release(); window.fetch = fetch0; } };
      window.fetch = async (url, init) => {
        const r = await fetch0(url, init);
        if (!String(url).includes(marker)) return r;
        window.held.count++;
        const body = await r.text();  // read now, so that the page's own read is immediate later
        await released;
        setTimeout(() => { window.held.delivered++; }, 200);  // after the page's continuation has run
        return new Response(body, { status: r.status, headers: r.headers });
      };""", marker)


def release_fetches(driver):
    """Hands the held answers to the page, and waits until it has had them."""
    driver.execute_script("window.held.release()")
    wait(driver, "the held answers are delivered",
         lambda d: d.execute_script("return window.held.count > 0 && window.held.delivered === window.held.count"))


def bochs_example():
    doc = yaml.safe_load(open(os.path.join(ROOT, "openapi.yaml")))
    return doc["components"]["examples"]["BochsDecisionRequest"]["value"]


def test_decide(driver, base):
    driver.get(base + "/")
    button = wait(driver, "the page loads with its bochs button", lambda d: visible(d, "#bochs"))
    if not button:
        return
    unlabelled = driver.execute_script("""
        return [...document.querySelectorAll('input, select, textarea')]
          .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label')).map(e => e.id || e.outerHTML);""")
    check(unlabelled == [], f"every form control has a label ({unlabelled})")

    button.send_keys(Keys.ENTER)  # the keyboard, not the mouse: the example is one keypress away
    wait(driver, "the decision appears", lambda d: visible(d, "#decision td.decided"))
    sent = json.loads(driver.find_element(By.ID, "request-json").get_attribute("textContent"))
    check(sent == bochs_example(), f"the form sends openapi.yaml's BochsDecisionRequest ({sent})")
    cards = [c.text.split("\n") for c in driver.find_elements(By.CSS_SELECTOR, "#decision .card")]
    check(cards and cards[0][:2] == ["Effective type", "UC"], f"effective type UC ({cards[:1]})")
    check(any(c[:2] == ["EPT type", "WB"] and "IPAT=0" in c[2] for c in cards), "EPT type WB with IPAT=0")
    check(any(c[:2] == ["Guest PAT entry", "PA2 = UC-"] for c in cards), "guest PAT entry 2 is UC-")

    decided = driver.find_elements(By.CSS_SELECTOR, "table.t117 td.decided")
    check(len(decided) == 1, f"one highlighted cell in Table 11-7 ({len(decided)})")
    check(len(driver.find_elements(By.CSS_SELECTOR, "table.t117 tbody td")) == 30, "Table 11-7 has its 30 cells")
    if decided:
        cell = decided[0]
        row = cell.find_element(By.XPATH, "./preceding-sibling::th").text
        col_index = int(cell.get_attribute("cellIndex"))
        col = driver.find_elements(By.CSS_SELECTOR, "table.t117 thead th")[col_index].text
        check((row, col) == ("WB", "UC-"), f"the highlighted cell is row WB, column UC- ({row}, {col})")
        check(cell.text.startswith("UC"), f"the highlighted cell says UC ({cell.text!r})")
        check(cell.get_attribute("aria-current") == "true", "the highlighted cell is marked for screen readers")
        colours = driver.execute_script("""
            const c = document.querySelector('table.t117 td.decided'), o = document.querySelector('table.t117 td:not(.decided)');
            return [getComputedStyle(c).backgroundColor, getComputedStyle(o).backgroundColor];""")
        check(colours[0] != colours[1], f"the highlighted cell is drawn differently ({colours})")
    trace = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#decision ol.trace li")]
    check(len(trace) == 2 and trace[0].startswith("E.honor-pat") and trace[1].startswith("SDM.table-11-7"),
          f"the trace lists E.honor-pat then SDM.table-11-7 ({trace})")
    states = {r.find_element(By.TAG_NAME, "th").text: r.text
              for r in driver.find_elements(By.XPATH, "//section[@id='decision']//table[caption='Quirk states']/tbody/tr")}
    check("disabled requested" in states.get("IGNORE_GUEST_PAT", ""), f"IGNORE_GUEST_PAT disabled, requested ({states})")
    check("inapplicable" in states.get("CD_NW_CLEARED", ""), "CD_NW_CLEARED inapplicable")
    check("slow_uncached_ram" in text(driver, "#decision .warnings"), "the slow_uncached_ram warning is shown")
    check(driver.switch_to.active_element.get_attribute("id") == "decision-title", "focus moves to the answer")

    # A bad field: the problem's detail is shown and the field it points at is marked.
    kernel = driver.find_element(By.ID, "f-kernel")
    kernel.clear()
    kernel.send_keys("banana", Keys.ENTER)
    wait(driver, "a bad kernel gets the problem", lambda d: visible(d, "#decide-error"))
    check("/kernel" in text(driver, "#decide-error"), f"the problem names /kernel ({text(driver, '#decide-error')!r})")
    check(kernel.get_attribute("aria-invalid") == "true", "the kernel field is marked invalid")
    check(not visible(driver, "#decision"), "no stale answer stays on screen")


def test_vms(driver, base):
    driver.get(base + "/#decide")
    driver.find_element(By.CSS_SELECTOR, "nav a[data-view=vms]").click()
    wait(driver, "the VM list appears", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#vm-table tbody tr")) == 3)
    ids = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#vm-table tbody th a")]
    check(ids == ["busy-03", "desk-02", "web-01"], f"the seeded VMs are listed, in id order ({ids})")

    # Each filter below leaves one row, so a wait on the row count alone can pass on the previous
    # answer before the new one is drawn: clear the list first, so the row found is the new one's.
    clear_list = "document.getElementById('vm-list').replaceChildren()"
    restart = driver.find_element(By.ID, "v-restart")
    restart.send_keys("yes")  # keyboard selection of the option
    driver.execute_script(clear_list)
    driver.find_element(By.CSS_SELECTOR, "#vm-filter button[type=submit]").click()
    wait(driver, "the restart filter applies", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#vm-table tbody tr")) == 1)
    ids = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#vm-table tbody th a")]
    check(ids == ["desk-02"], f"restart required lists desk-02 only ({ids})")
    restart.send_keys("(any)")

    label = driver.find_element(By.ID, "v-label")
    driver.execute_script(clear_list)
    label.send_keys("team=web", Keys.ENTER)
    wait(driver, "the label filter applies", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#vm-table tbody tr")) == 1)
    ids = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#vm-table tbody th a")]
    check(ids == ["web-01"], f"label team=web lists web-01 only ({ids})")

    # An answer overtaken by a newer filter is dropped: the restart_required=true query is held back until
    # the next query (any) has been answered, and must not be drawn over it when it arrives.
    hold_fetches(driver, "restart_required=true")
    restart.send_keys("yes")
    driver.find_element(By.CSS_SELECTOR, "#vm-filter button[type=submit]").click()
    restart.send_keys("(any)")
    driver.execute_script(clear_list)
    driver.find_element(By.CSS_SELECTOR, "#vm-filter button[type=submit]").click()
    wait(driver, "the newer filter answers", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#vm-table tbody tr")) == 1)
    release_fetches(driver)
    ids = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#vm-table tbody th a")]
    check(ids == ["web-01"], f"an overtaken answer is not drawn over the newer one ({ids})")

    driver.find_element(By.LINK_TEXT, "web-01").click()
    wait(driver, "the VM page appears", lambda d: "History" in text(d, "#vm-body"))
    body = text(driver, "#vm-body")
    check(driver.current_url.endswith("#vms/web-01"), "the address names the VM (Back and links work)")
    check(not visible(driver, "#vm-filter") and not visible(driver, "#vm-table"), "the VM page shows the VM, not the list")
    check("legacy-ignore-guest-pat" in body and "spr-6-16" in body, "the record shows its baseline and host profile")
    check("team=web" in body and "owner=web-oncall" in body, "the record shows its labels")
    check("Bochs driver fix in the guest\n(judged from the guest kernel)" in body, "the record says how the bochs fix is judged")
    check("Started with\nnever" in body and "Restart required\nno" in body, "the record shows it was never reported started")
    history = [r.text for r in driver.find_elements(By.XPATH, "//div[@id='vm-body']//table[thead/tr/th='Action']/tbody/tr")]
    check(len(history) == 2 and " patch " in history[0] and " create " in history[1],
          f"the history lists the patch, then the create ({history})")
    check("Mask to apply" in body and "KVM_ENABLE_CAP needed" in body, "the kvm-quirks part is shown")

    driver.back()
    wait(driver, "Back returns to the list", lambda d: visible(d, "#vm-table"))

    # A history longer than a page: the rest comes with "Older entries".
    driver.get(base + "/#vms/busy-03")
    rows = "//div[@id='vm-body']//table[thead/tr/th='Action']/tbody/tr"
    wait(driver, "busy-03's first history page", lambda d: len(d.find_elements(By.XPATH, rows)) == 50)
    older = driver.find_element(By.XPATH, "//button[text()='Older entries']")
    hold_fetches(driver, "/history?limit=50&cursor=")  # both clicks land while the page is on its way
    older.click()
    older.click()
    release_fetches(driver)
    wait(driver, "the older history entries are appended", lambda d: len(d.find_elements(By.XPATH, rows)) >= 56)
    n = len(driver.find_elements(By.XPATH, rows))
    check(n == 56, f"two clicks on Older entries append its page once (56 rows: {n})")
    focused = driver.switch_to.active_element
    check(focused.tag_name == "span" and focused.text == "That is all.", f"the focus stays where the button was ({focused.tag_name} {focused.text[:40]!r})")
    last = driver.find_elements(By.XPATH, rows)[-1].text
    check(" create " in last, f"the last history entry is the create ({last[:60]!r})")
    check(not driver.find_elements(By.XPATH, "//button[text()='Older entries']"), "no more pages are offered")


def label_query(pairs):
    """One `label` parameter per pair, encoded as the page's URLSearchParams encodes them."""
    return urllib.parse.urlencode([("label", p) for p in pairs])


def label_parameter_pattern():
    doc = yaml.safe_load(open(os.path.join(ROOT, "openapi.yaml")))
    label = next(p for p in doc["paths"]["/v1/vms"]["get"]["parameters"] if p.get("name") == "label")
    return label["schema"]["items"]["pattern"]


def text_of(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def submit_filter(driver, field, text, form, answered, clear=True):
    """Types `text` into the filter `field`, submits its form with Enter, and waits for one of
    `answered` (with `clear`, the old answer is removed first, so that the one found is the new one)."""
    if clear:
        driver.execute_script("for (const id of ['vm-list', 'risk-list']) document.getElementById(id).replaceChildren()")
    el = driver.find_element(By.ID, field)
    el.clear()
    el.send_keys(text, Keys.ENTER)
    return wait(driver, f"{form} answers {text!r}", lambda d: visible(d, answered[0]) or visible(d, answered[1]))


def test_labels(driver, server):
    """Several labels, commas between: the page sends one `label` per pair, and lists what the API
    lists for them (each pair alone lists more, so a page that sent only one would be caught)."""
    check(driver.execute_script("return LABEL_FILTER") == label_parameter_pattern(),
          "the page's pattern for a label pair is openapi.yaml's for one `label` parameter")
    for vm, labels in (("lab-a", {"team": "db", "env": "prod"}), ("lab-b", {"team": "db", "env": "test"}),
                       ("lab-c", {"team": "web", "env": "prod", "owner": "Jane Doe"})):
        server.send("PUT", f"/v1/vms/{vm}", {"host_profile": "skx-6-15", "labels": labels}, 201)
    api_ids = lambda pairs: [vm["id"] for vm in server.call("GET", "/v1/vms?" + label_query(pairs)).json()["items"]]
    page_ids = lambda: [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#vm-table tbody th a")]
    driver.get(server.base + "/#vms")
    status = lambda d: d.execute_script("return document.getElementById('status').textContent")
    wait(driver, "the route's own listing is drawn", lambda d: status(d).endswith(" listed.") and visible(d, "#vm-table"))
    answered = ("#vm-table", "#vm-error")
    each = [api_ids([p]) for p in ("team=db", "env=prod")]
    check(all(len(e) > len(api_ids(["team=db", "env=prod"])) > 0 for e in each),
          f"the API lists fewer VMs for team=db and env=prod together than for each alone ({each})")
    for typed, pairs in (("team=db, env=prod", ["team=db", "env=prod"]),
                         ("env=prod,owner=Jane Doe", ["env=prod", "owner=Jane Doe"]),  # a value with a space
                         (" team=web , owner=web-oncall ,", ["team=web", "owner=web-oncall"])):
        expected = api_ids(pairs)
        submit_filter(driver, "v-label", typed, "the VM list", answered)
        check(expected and page_ids() == expected and not visible(driver, "#vm-error"),
              f"labels {typed!r} list what GET /v1/vms lists for {pairs} ({page_ids()} vs {expected})")

    # A bad pair is named before any request; two pairs without a comma are caught too. Each
    # follows a good filter, whose list must not stay under the message.
    for typed, named, why in (("team=db, envprod", '"envprod"', "not key=value"),
                              ("team=db, bad key=x", '"bad key=x"', "not key=value"),
                              ("team=db env=prod", '"team=db env=prod"', "without a comma")):
        submit_filter(driver, "v-label", "team=db", "the VM list", answered)
        submit_filter(driver, "v-label", typed, "the VM list", ("#vm-error", "#vm-error"), clear=False)
        message = text_of(driver, "#vm-error")
        check(named in message and why in message, f"{typed!r}: the message names {named} and says {why!r} ({message!r})")
        check(driver.find_element(By.ID, "v-label").get_attribute("aria-invalid") == "true", f"{typed!r}: the field is marked")
        check(not visible(driver, "#vm-table"), f"{typed!r}: no stale list stays under the message")

    # What only the server knows (one key asked to equal two values): its 422 is shown.
    problem = server.call("GET", "/v1/vms?" + label_query(["team=db", "team=web"])).json()
    submit_filter(driver, "v-label", "team=db, team=web", "the VM list", answered)
    message = text_of(driver, "#vm-error")
    check(str(problem["status"]) in message and problem["detail"] in message and problem["pointer"] in message,
          f"the server's problem is shown: status, detail and field ({message!r} vs {problem})")
    check(driver.find_element(By.ID, "v-label").get_attribute("aria-invalid") == "true", "the server's 422 marks the field")
    submit_filter(driver, "v-label", "team=nobody", "the VM list", ("#vm-list p.none", "#vm-error"))
    check(text(driver, "#vm-list p.none") == "No VM matches these filters." and not driver.find_elements(By.CSS_SELECTOR, "#vm-table"),
          f"a filter nothing matches says so, without an empty table ({text(driver, '#vm-list')!r})")
    submit_filter(driver, "v-label", "", "the VM list", answered)
    check(driver.find_element(By.ID, "v-label").get_attribute("aria-invalid") != "true", "an accepted filter clears the mark")

    # "More" pages through the listed filter, not through what was typed since.
    for n in range(51):
        server.send("PUT", f"/v1/vms/page-{n:02d}", {"host_profile": "skx-6-15", "labels": {"paged": "yes"}}, 201)
    submit_filter(driver, "v-label", "paged=yes", "the VM list", answered)
    check(len(page_ids()) == 50, f"the first page lists 50 VMs ({len(page_ids())})")
    field = driver.find_element(By.ID, "v-label")
    field.clear()
    field.send_keys("team=db")  # edited, not submitted
    driver.find_element(By.XPATH, "//div[@id='vm-list']//button[text()='More']").click()
    wait(driver, "the next page is appended", lambda d: len(page_ids()) > 50)
    shown = page_ids()
    check(shown == [f"page-{n:02d}" for n in range(51)], f"More lists the filter's 51st VM, not team=db's ({shown[48:]})")


def test_applied(driver, server):
    """desk-02 was reported started at revision 1: its page says so, with the time the API gives."""
    vm = server.call("GET", "/v1/vms/desk-02").json()
    # The page shown before (mig-05's) must not stay under desk-02's title while desk-02 loads.
    hold_fetches(driver, "/v1/vms/desk-02")
    driver.get(server.base + "/#vms/desk-02")
    wait(driver, "desk-02's title appears", lambda d: text(d, "#vm-title") == "VM desk-02")
    check(text(driver, "#vm-body") == "", f"while desk-02 loads, no other VM's record is shown ({text(driver, '#vm-body')[:60]!r})")
    release_fetches(driver)
    wait(driver, "desk-02's page appears", lambda d: "History" in text(d, "#vm-body"))
    body = text(driver, "#vm-body")
    check(vm["applied_at"] is not None and f"Started with\nrevision 1 on {vm['applied_at']}" in body,
          f"the record shows the start's revision and time ({vm['applied_at']})")


def test_placements(driver, server):
    """mig-05 (honoring guest PAT on spr-6-16) keeps its behaviour there but not on skx-6-15, whose
    6.15 predates IGNORE_GUEST_PAT: the page shows what GET /v1/vms/{id}/placements says. (Run
    after the kernel plan, which counts spr-6-16's VMs.)"""
    server.send("PUT", "/v1/vms/mig-05", {"baseline": "honor-guest-pat-2025", "host_profile": "spr-6-16"}, 201)
    answer = server.call("GET", "/v1/vms/mig-05/placements").json()
    expected = [(i["host_profile"], i["current"], f'model {i["model"]}, {i["kernel"]}', "yes" if i["compatible"] else "no",
                 i["changes"], i["reasons"]) for i in answer["items"]]
    check(len(expected) == 2 and {e[3] for e in expected} == {"yes", "no"} and [e[1] for e in expected].count(True) == 1,
          f"the API places mig-05 on two profiles, one its own, compatible with one only ({[e[:4] for e in expected]})")
    driver.get(server.base + "/#vms/mig-05")
    table_css = "#vm-body table.placements"
    if not wait(driver, "mig-05's placements appear", lambda d: visible(d, table_css)):
        return
    grid = driver.find_element(By.CSS_SELECTOR, table_css)
    check(grid.find_element(By.TAG_NAME, "caption").text == "Host profiles", "the placements table has a caption")
    heads = grid.find_elements(By.CSS_SELECTOR, "thead th")
    check([th.text for th in heads] == ["Host profile", "Compatible", "Changes and reasons"]
          and all(th.get_attribute("scope") == "col" for th in heads), "the placements table has column headers")
    shown = []
    for tr in grid.find_elements(By.CSS_SELECTOR, "tbody tr"):
        th, tds = tr.find_element(By.TAG_NAME, "th"), tr.find_elements(By.TAG_NAME, "td")
        notes = [n.text for n in th.find_elements(By.CLASS_NAME, "note")]
        shown.append((th.find_element(By.TAG_NAME, "code").text, "its own" in notes, notes[0] if notes else "", tds[0].text,
                      [c.text for c in tds[1].find_elements(By.CSS_SELECTOR, ".what-changes code")],
                      [li.text for li in tds[1].find_elements(By.TAG_NAME, "li")]))
        check(th.get_attribute("scope") == "row", "each placement's host profile heads its row")
    check(shown == expected, f"the placements table is the API's answer ({shown} vs {expected})")


def test_risks_and_plans(driver, server):
    """A VM honoring guest PAT with VGA and guest 6.1 on Sapphire Rapids 6.16 is at risk; the
    plan back to 6.15 cannot keep its behaviour."""
    server.send("PUT", "/v1/vms/risk-04", {"baseline": "honor-guest-pat-2025", "host_profile": "spr-6-16",
                                           "display_devices": ["VGA"], "guest_kernel": "6.1",
                                           "labels": {"team": "web", "env": "prod"}}, 201)
    driver.get(server.base + "/#risks")
    wait(driver, "the risk list appears", lambda d: visible(d, "#risk-list li.risk"))
    risks = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#risk-list li.risk")]
    check(len(risks) == 1 and risks[0].startswith("risk-04 high") and "Framebuffer\nEPT WB IPAT=0 \u2192 UC" in risks[0]
          and "legacy-ignore-guest-pat" in risks[0], f"risk-04 alone is at risk, high, its framebuffer UC, a fix named ({risks})")
    plan = driver.find_element(By.ID, "p-host")
    plan.send_keys("spr-6-16")
    driver.find_element(By.ID, "p-kernel").send_keys("6.15", Keys.ENTER)
    wait(driver, "the kernel plan appears", lambda d: visible(d, "#plan-result tbody tr"))
    body = text(driver, "#plan-result")
    check("VMs\n3, unchanged" in body or "3, unchanged" in body, f"the plan covers spr-6-16's three VMs ({body[:200]!r})")
    rows = {r.find_element(By.TAG_NAME, "th").text: r for r in driver.find_elements(By.CSS_SELECTOR, "#plan-result tbody tr")}
    items = {i["vm"]: i for i in server.call("GET", "/v1/hosts/spr-6-16/kernel-plan?kernel=6.15&limit=100").json()["items"]}
    check(set(rows) == set(items), f"the plan's rows are the API's VMs ({sorted(rows)} vs {sorted(items)})")
    for vm, item in items.items():
        row = rows.get(vm)
        if row is None:
            continue
        action, shown = item["action"], row.find_elements(By.TAG_NAME, "td")[3].text
        said = [action["kind"]] + [action[k] for k in ("baseline", "disabled_quirks", "reason") if k in action]
        check(all(x in shown for x in said), f"{vm}: what keeps the behaviour says the API's {said} ({shown!r})")
        before = row.find_elements(By.TAG_NAME, "td")[0].text
        check(before.startswith(f"model {item['before']['model']}\n") and "newest" not in before,
              f"{vm}: before names the model, no kernel the item does not carry ({before[:40]!r})")
    check(items.get("risk-04", {}).get("action", {}).get("kind") == "cannot_keep" and "reason" in items["risk-04"]["action"],
          f"risk-04's behaviour cannot be kept on 6.15, with a reason ({items.get('risk-04')})")

    # Several labels here too: the risks listed are GET /v1/risks's for one `label` per pair.
    answered = ("#risk-list li.risk", "#risk-list p.none")  # a risk, or the sentence that says none
    for typed, pairs in (("team=web, env=prod", ["team=web", "env=prod"]), ("team=web, env=test", ["team=web", "env=test"])):
        expected = [r["vm"] for r in server.call("GET", "/v1/risks?" + label_query(pairs)).json()["items"]]
        submit_filter(driver, "r-label", typed, "the risk list", answered)
        shown = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#risk-list li.risk h4 a")]
        check(shown == expected and not visible(driver, "#risk-error"), f"risk labels {typed!r} list {expected} ({shown})")
        none = text(driver, "#risk-list p.none")
        check(("No VM at risk among" in none) == (not expected), f"risk labels {typed!r}: 'none' is said exactly when none is listed ({none!r})")
    submit_filter(driver, "r-label", "team=web", "the risk list", answered)
    submit_filter(driver, "r-label", "team=web, =prod", "the risk list", ("#risk-error", "#risk-error"), clear=False)
    message = text_of(driver, "#risk-error")
    check('"=prod"' in message and driver.find_element(By.ID, "r-label").get_attribute("aria-invalid") == "true"
          and not driver.find_elements(By.CSS_SELECTOR, "#risk-list > *"),
          f"a bad risk label pair is named, its field marked, no stale list under it ({message!r})")
    check(not visible(driver, "#plan-error"), "the risk list's error is not shown as the plan's")
    driver.find_element(By.ID, "r-label").clear()

    # A plan that fails leaves no earlier plan under its error.
    plan.clear()
    plan.send_keys("no-such-profile", Keys.ENTER)
    wait(driver, "the failed plan answers", lambda d: visible(d, "#plan-error"))
    check("404" in text(driver, "#plan-error") and not driver.find_elements(By.CSS_SELECTOR, "#plan-result *"),
          f"a plan for an unknown profile shows its 404 and no earlier plan ({text(driver, '#plan-error')[:80]!r})")


def test_phone(driver, base):
    """375 CSS pixels, as a phone: nothing wider than the screen in any view."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 375, "height": 812, "deviceScaleFactor": 2, "mobile": True})
    overflow = """
        const w = document.documentElement.clientWidth;
        const wide = [...document.querySelectorAll('body *')].filter(e => {
          const r = e.getBoundingClientRect();
          return r.width > 0 && r.right > w + 0.5 && !e.closest('.scroll');
        }).map(e => e.tagName + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''));
        return [document.documentElement.scrollWidth, w, wide.slice(0, 5)];"""
    driver.get(base + "/")
    visible(driver, "#bochs").click()
    wait(driver, "the decision appears at phone width", lambda d: visible(d, "#decision td.decided"))
    scroll_w, width, wide = driver.execute_script(overflow)
    check(width == 375 and scroll_w <= width and not wide, f"Decide at 375 px: nothing overflows ({scroll_w}/{width} {wide})")
    grid = driver.execute_script("const s = document.querySelector('table.t117').parentElement; return [s.scrollWidth, s.clientWidth];")
    check(grid[0] <= grid[1], f"Table 11-7 fits a phone without scrolling ({grid})")
    for where, ready in (("#vms", "#vm-table"), ("#vms/web-01", "#vm-body table"), ("#vms/mig-05", "#vm-body table.placements"),
                         ("#risks", "#risk-list li.risk")):
        driver.get(base + "/" + where)
        title = f"VM {where.split('/')[1]}" if where.startswith("#vms/") else None
        wait(driver, f"{where} loads at phone width", lambda d: (title is None or text(d, "#vm-title") == title) and visible(d, ready))
        scroll_w, width, wide = driver.execute_script(overflow)
        check(scroll_w <= width and not wide, f"{where} at 375 px: nothing overflows ({scroll_w}/{width} {wide})")
        if where == "#vms/mig-05":
            grid = driver.execute_script("const s = document.querySelector('table.placements').parentElement; return [s.scrollWidth, s.clientWidth];")
            check(grid[0] <= grid[1], f"the placements table fits a phone without scrolling ({grid})")
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_read_auth(driver, base):
    """Reads locked (--read-auth): the page says so, and works once the token is entered."""
    driver.get(base + "/#vms")
    wait(driver, "the locked list answers", lambda d: visible(d, "#vm-error"))
    check("token" in text(driver, "#vm-error").lower() and "401" in text(driver, "#vm-error"),
          f"a 401 says a token is needed ({text(driver, '#vm-error')!r})")
    driver.find_element(By.CSS_SELECTOR, ".token summary").click()
    driver.find_element(By.ID, "token").send_keys("t\u00f6ken-that-no-header-carries", Keys.ENTER)
    status = driver.execute_script("return document.getElementById('status').textContent")
    check("visible ASCII" in status and driver.execute_script("return sessionStorage.getItem('memtyped.token')") is None,
          f"a token no header can carry is refused, not kept ({status!r})")
    driver.find_element(By.ID, "token").clear()
    driver.find_element(By.ID, "token").send_keys(TOKEN, Keys.ENTER)
    check(driver.execute_script("return sessionStorage.getItem('memtyped.token')") == TOKEN, "the token is kept in sessionStorage")
    driver.find_element(By.CSS_SELECTOR, "#vm-filter button[type=submit]").click()
    wait(driver, "with the token the list appears", lambda d: visible(d, "#vm-table"))
    check(not visible(driver, "#vm-error"), "the error is gone once the token is used")
    driver.execute_script("sessionStorage.clear()")


def screenshot(driver, base, path):
    """The decide view with the bochs answer, from the real page (the README shows it)."""
    driver.set_window_size(1100, 1400)
    driver.get(base + "/")
    visible(driver, "#bochs").click()
    if not wait(driver, "the decision appears for the screenshot", lambda d: visible(d, "#decision td.decided")):
        return
    driver.execute_script("document.getElementById('decision').scrollIntoView()")
    driver.execute_script("window.scrollBy(0, -120)")
    driver.save_screenshot(path)
    print(f"screenshot: {path}")


def browser_errors(driver):
    """Errors the page logged since the last call (CSP violations are SEVERE), but
    the 4xx the bad-kernel, two-values-for-one-label and unknown-profile checks
    ask for, which chromium logs as failed loads."""
    asked = (("/v1/decisions", 422), ("/v1/vms?" + label_query(["team=db", "team=web"]), 422),
             ("/v1/hosts/no-such-profile/kernel-plan", 404))
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
            and not any(a in e["message"] and f"status of {code}" in e["message"] for a, code in asked)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="the memtyped binary")
    ap.add_argument("--screenshot", help="write a PNG of the decide view here")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)

    driver = browser()
    try:
        server = Server(args.bin, "open")
        server.seed()
        test_decide(driver, server.base)
        test_vms(driver, server.base)
        test_labels(driver, server)
        test_risks_and_plans(driver, server)
        test_placements(driver, server)
        test_applied(driver, server)
        test_phone(driver, server.base)
        errors = browser_errors(driver)
        check(errors == [], f"the browser logged no error ({errors})")
        if args.screenshot:
            screenshot(driver, server.base, args.screenshot)
        server.stop()

        locked = Server(args.bin, "locked", ["--read-auth"])
        locked.seed()
        test_read_auth(driver, locked.base)
        locked.stop()
    finally:
        driver.quit()


if __name__ == "__main__":
    support.run(main, "web page")
