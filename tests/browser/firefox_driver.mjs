// Drives headless Firefox (Debian's firefox-esr) for tests/browser/firefox.py: one JSON
// command per stdin line, one JSON reply per stdout line. Pipes cross network namespaces
// (the BiDi WebSocket puppeteer opens to Firefox stays inside this process's namespace).
import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

const [executablePath, profile] = process.argv.slice(2);
const browser = await puppeteer.launch({
  browser: "firefox", executablePath, headless: true, userDataDir: profile || undefined,
  extraPrefsFirefox: {
    "media.navigator.streams.fake": true,
    "media.navigator.permission.disabled": true,
    "media.autoplay.default": 0,
    "media.peerconnection.ice.loopback": true,
    "media.peerconnection.ice.obfuscate_host_addresses": false,
  },
});
const page = (await browser.pages())[0] ?? await browser.newPage();
await page.setViewport({ width: 1000, height: 800 });
const reply = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
reply({ ok: true, version: await browser.version() });

for await (const line of createInterface({ input: process.stdin })) {
  let cmd;
  try {
    cmd = JSON.parse(line);
    if (cmd.op === "goto") {
      await page.goto(cmd.url, { waitUntil: "load", timeout: 60_000 });
      reply({ ok: true });
    } else if (cmd.op === "eval") {
      // cmd.js: the source of a function, called with cmd.arg; its (awaited) result returns
      const fn = new Function(`return (${cmd.js});`)();
      reply({ ok: true, value: await page.evaluate(fn, cmd.arg ?? null) ?? null });
    } else if (cmd.op === "click") {
      // a real (trusted) click: the page gets the user activation a person's click gives
      await page.click(cmd.selector);
      reply({ ok: true });
    } else if (cmd.op === "close") {
      await browser.close();
      reply({ ok: true });
      process.exit(0);
    } else {
      reply({ ok: false, error: `unknown op ${cmd.op}` });
    }
  } catch (err) {
    reply({ ok: false, error: String(err && err.stack || err) });
  }
}
await browser.close();
