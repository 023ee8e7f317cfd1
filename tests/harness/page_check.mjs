// A dist's index.html in real headless Chromium (the OS package, driven by
// playwright-core over the DevTools protocol): load the page, wait for ESP Web
// Tools' <esp-web-install-button> to be defined, fetch the manifest it points at
// from inside the page, read the flash-layout SVG, save a screenshot.
//
//   node page_check.mjs PAGE_URL SCREENSHOT.png USER_DATA_DIR [CHROMIUM]
//
// Prints one JSON line with what it saw; exits non-zero when the page does not load.

import { chromium } from "playwright-core";

const [pageUrl, screenshot, userDataDir, executablePath = "/usr/bin/chromium"] = process.argv.slice(2);
if (!pageUrl || !screenshot || !userDataDir) {
  console.error("usage: node page_check.mjs PAGE_URL SCREENSHOT.png USER_DATA_DIR [CHROMIUM]");
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
try {
  const page = context.pages()[0] ?? await context.newPage();
  page.on("console", (msg) => { if (msg.type() === "error") errors.push(msg.text()); });
  page.on("pageerror", (err) => errors.push(String(err)));
  page.on("response", (resp) => responses.push({ url: resp.url(), status: resp.status() }));
  page.on("requestfailed", (req) => failed.push(req.url()));
  await page.goto(pageUrl, { waitUntil: "load", timeout: 20000 });
  await page.waitForFunction(() => customElements.get("esp-web-install-button") !== undefined,
    null, { timeout: 20000 });
  const seen = await page.evaluate(async () => {
    const button = document.querySelector("esp-web-install-button");
    await customElements.whenDefined("esp-web-install-button");
    const manifestUrl = new URL(button.getAttribute("manifest"), document.baseURI).toString();
    const manifest = await (await fetch(manifestUrl)).json();
    const boxes = [...document.querySelectorAll("#flash-layout rect.partition")].map((r) => ({
      name: r.dataset.name, offset: r.dataset.offset, size: Number(r.dataset.size),
      x: r.x.baseVal.value, width: r.width.baseVal.value,
    }));
    return {
      defined: button instanceof customElements.get("esp-web-install-button"),
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
  console.log(JSON.stringify({ ...seen, errors, failed, responses }));
} finally {
  await context.close();
}
