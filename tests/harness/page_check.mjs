// A dist's index.html in real headless Chromium (the OS package, driven by
// playwright-core over the DevTools protocol): load the page, wait for ESP Web
// Tools' <esp-web-install-button> to be defined, fetch the manifest it points at
// from inside the page, read the flash-layout SVG, the partition table, the
// install warning and the "installer missing" message, save a screenshot.
//
//   node page_check.mjs PAGE_URL SCREENSHOT.png USER_DATA_DIR [CHROMIUM] [--offline | --stall]
//
// --offline: a machine with no network. Every request that does not go to the
// page's own origin is aborted (request interception, net::ERR_INTERNET_DISCONNECTED),
// so a page that loads ESP Web Tools from a CDN gets no install button; the page
// says so instead (the check waits for the button or that message).
// --stall: such requests are held open and never answered, as a blocker or a dead
// proxy may do; the page's "load" event then never fires.
//
// Prints one JSON line with what it saw; exits non-zero when the page does not load.

import { chromium } from "playwright-core";

const offline = process.argv.includes("--offline");
const stall = process.argv.includes("--stall");
const positional = process.argv.slice(2).filter((arg) => arg !== "--offline" && arg !== "--stall");
const [pageUrl, screenshot, userDataDir, executablePath = "/usr/bin/chromium"] = positional;
if (!pageUrl || !screenshot || !userDataDir) {
  console.error("usage: node page_check.mjs PAGE_URL SCREENSHOT.png USER_DATA_DIR [CHROMIUM] [--offline | --stall]");
  process.exit(2);
}

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1100, height: 900 },
});
const errors = [];
const responses = [];
const failed = [];
const blocked = [];
try {
  if (offline || stall) {
    const origin = new URL(pageUrl).origin;
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (new URL(url).origin === origin) return route.continue();
      blocked.push(url);
      return stall ? new Promise(() => {}) : route.abort("internetdisconnected");
    });
  }
  const page = context.pages()[0] ?? await context.newPage();
  page.on("console", (msg) => { if (msg.type() === "error") errors.push(msg.text()); });
  page.on("pageerror", (err) => errors.push(String(err)));
  page.on("response", (resp) => responses.push({ url: resp.url(), status: resp.status() }));
  page.on("requestfailed", (req) => failed.push({ url: req.url(), error: req.failure()?.errorText }));
  await page.goto(pageUrl, { waitUntil: stall ? "commit" : "load", timeout: 20000 });
  // The button, or the page's message saying why there is none.
  await page.waitForFunction(() => customElements.get("esp-web-install-button") !== undefined
    || document.getElementById("installer-missing")?.hidden === false, null, { timeout: 20000 });
  const seen = await page.evaluate(async () => {
    const button = document.querySelector("esp-web-install-button");
    const manifestUrl = new URL(button.getAttribute("manifest"), document.baseURI).toString();
    const manifest = await (await fetch(manifestUrl)).json();
    const shown = (el) => el !== null && el.checkVisibility() && el.getClientRects().length > 0;
    const block = (id) => {
      const el = document.getElementById(id);
      return el === null ? null : {
        visible: shown(el), text: el.innerText,
        beforeButton: Boolean(el.compareDocumentPosition(button) & Node.DOCUMENT_POSITION_FOLLOWING),
        top: el.getBoundingClientRect().top,
      };
    };
    const layoutTable = [...document.querySelectorAll("table")].find((t) => t.innerText.startsWith("Partition"));
    const boxes = [...document.querySelectorAll("#flash-layout rect.partition")].map((r) => ({
      name: r.dataset.name, offset: r.dataset.offset, size: Number(r.dataset.size),
      x: r.x.baseVal.value, width: r.width.baseVal.value,
    }));
    const element = customElements.get("esp-web-install-button");
    return {
      defined: element !== undefined && button instanceof element,
      buttonTop: button.getBoundingClientRect().top,
      warning: block("install-warning"),
      missing: block("installer-missing"),
      layoutRows: layoutTable ? [...layoutTable.rows].map((r) => [...r.cells].map((c) => c.innerText)) : [],
      svgLabels: [...document.querySelectorAll("#flash-layout text")].map((t) => t.textContent),
      bodyText: document.body.innerText,
      rendered: button.shadowRoot ? button.shadowRoot.innerHTML.length : 0,
      webSerial: "serial" in navigator,
      secure: window.isSecureContext,
      manifestUrl, manifest, boxes,
      svgWidth: document.querySelector("#flash-layout").viewBox.baseVal.width,
      title: document.title,
    };
  });
  await page.waitForTimeout(300); // late module errors, if any
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ ...seen, errors, failed, blocked, responses }));
} finally {
  await context.close();
}
