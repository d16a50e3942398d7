"""The operator console in headless Chromium (selenium + chromedriver),
driven by loadgen/tests/console_browser.rs against a real switch and
simulator, after `loadgen run` paid through the switch. Usage:
console_browser.py PLAN.json; PLAN names the admin URL, the token, the
screenshot folder and the trades (`paid`: one loadgen paid), date and
terminal to look at. Prints one JSON line with what it saw; exits 1 with the
reason on a failure.
"""

import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait


def main():
    plan = json.load(open(sys.argv[1]))
    admin = plan["admin"]
    out = plan["out"]
    os.makedirs(out, exist_ok=True)
    opts = Options()
    opts.binary_location = plan["chromium"]
    for a in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--window-size=1400,2000",
        "--lang=en-US",
    ):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(executable_path=plan["chromedriver"]), options=opts)
    driver.set_page_load_timeout(60)
    seen = {}
    shot_no = [0]

    def shot(name):
        shot_no[0] += 1
        path = os.path.join(out, "%02d-%s.png" % (shot_no[0], name))
        driver.save_screenshot(path)
        seen.setdefault("screenshots", []).append(path)

    def loaded():
        WebDriverWait(driver, 30).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
            and d.find_elements(By.TAG_NAME, "body")
        )

    def navigating(action):
        """Runs `action` (a click or a submit) and waits for the next page."""
        old = driver.find_element(By.TAG_NAME, "html")
        action()
        WebDriverWait(driver, 60).until(EC.staleness_of(old))
        loaded()

    def body():
        loaded()
        return driver.find_element(By.TAG_NAME, "body").text

    def expect(cond, why):
        if not cond:
            shot("failure")
            raise AssertionError(why + "\n--- page ---\n" + body()[:4000])

    try:
        # Log in through the form.
        driver.get(admin + "/console/trades?q=" + plan["paid"])
        expect("Log in" in body(), "not the login page without a session")
        expect(plan["paid"] not in driver.page_source, "data shown before login")
        shot("login")
        driver.get(admin + "/console/login")
        driver.find_element(By.NAME, "token").send_keys(plan["token"])
        navigating(driver.find_element(By.CSS_SELECTOR, "form[action='/console/login'] button").click)
        expect("Overview" in body(), "no overview after login")
        shot("overview")

        # Search the paid trade by its out_trade_no; open it.
        driver.get(admin + "/console/trades")
        q = driver.find_element(By.NAME, "q")
        q.send_keys(plan["paid"])
        navigating(q.submit)
        expect("1 trades found" in body(), "the search did not find the paid trade")
        shot("search")
        navigating(driver.find_element(By.LINK_TEXT, plan["paid_gateway_no"]).click)
        cells = [td.text for td in driver.find_elements(By.TAG_NAME, "td")]
        expect("alipay.trade.pay" in cells and "10000" in cells, "no gateway answer on the trade page")
        shot("trade-paid")

        # The 1004 trade: 12 queries, then the cancel.
        driver.get(admin + "/console/trades?q=" + plan["polled"])
        navigating(driver.find_element(By.LINK_TEXT, plan["polled_gateway_no"]).click)
        cells = [td.text for td in driver.find_elements(By.TAG_NAME, "td")]
        seen["queries"] = cells.count("alipay.trade.query")
        seen["cancels"] = cells.count("alipay.trade.cancel")
        expect(seen["queries"] == 12 and seen["cancels"] >= 1, "not 12 queries and a cancel")
        shot("trade-1004")

        # Reconcile the day, then explain the injected difference.
        driver.get(admin + "/console/recon?date=" + plan["date"])
        navigating(driver.find_element(By.CSS_SELECTOR, "form[action$='/rerun'] button").click)
        expect(plan["never_seen"] in body(), "the injected difference is not shown")
        driver.get(admin + "/console/queues")
        shot("queues")
        form = None
        for f in driver.find_elements(By.CSS_SELECTOR, "form[action$='/explain']"):
            key = f.find_element(By.NAME, "key").get_attribute("value")
            if plan["never_seen"] in key:
                form = f
        expect(form is not None, "no explain form for the injected difference")
        form.find_element(By.NAME, "note").send_keys(plan["note"])
        navigating(form.find_element(By.TAG_NAME, "button").click)
        expect(plan["note"] in body(), "the note is not shown after marking")
        shot("recon-explained")

        # Suspend the terminal.
        driver.get(admin + "/console/terminals?q=" + plan["key_id"])
        navigating(driver.find_element(By.CSS_SELECTOR, "form[action$='/suspend'] button").click)
        expect("SUSPENDED" in body(), "the terminal is not suspended")
        shot("terminal-suspended")

        # Chinese.
        driver.get(admin + "/console/?lang=zh")
        expect("总览" in body(), "no Chinese page")
        shot("overview-zh")
    finally:
        driver.quit()
    print(json.dumps(seen))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the reason, for the Rust test's message
        print("FAILED: %s" % e, file=sys.stderr)
        sys.exit(1)
