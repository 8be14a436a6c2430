// Drives headless Chromium (Debian's, via playwright-core) through the consent flow a client's
// administrator walks: open the emailed link, press the button, sign in and accept at the
// (sandbox) provider, land on the result page. Prints one JSON line: {"url", "title", "text"}.
// Usage: node consent.cjs <authorization-link> <screenshot.png>
//        node consent.cjs <offer-link> <screenshot.png> offer   (fills the offer form first)
// CommonJS so that NODE_PATH (set by scripts/services.sh) finds playwright-core.
const { chromium } = require('playwright-core');

const [link, screenshot, mode] = process.argv.slice(2);
if (!link || !screenshot) {
  console.error('usage: node consent.cjs <authorization-link> <screenshot.png>');
  process.exit(2);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(15000);
    // Anything the pages' Content-Security-Policy blocks is reported on the console.
    const violations = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) violations.push(msg.text());
    });
    // The stylesheet applied under the policy: the button has its colour.
    const buttonColour = async (selector) =>
      page.$eval(selector, (el) => getComputedStyle(el).backgroundColor);
    await page.goto(link);
    let styled;
    if (mode === 'offer') {
      // The partner's offer page: the client's administrator says who they are.
      styled = { landing: await buttonColour('button[type=submit]') };
      await page.fill('input[name=organization]', 'Northwind Traders');
      await page.fill('input[name=email]', 'it@northwind.example');
      await page.click('button[type=submit]');
    } else {
      styled = { landing: await buttonColour('#authorize') };
      await page.click('#authorize');
    }
    // Microsoft: the admin signs in first (the sandbox's sign-in page), then consents.
    await page.waitForSelector('#sign-in');
    await page.click('#sign-in');
    await page.waitForSelector('#accept');
    styled.consent = await buttonColour('#accept');
    await page.click('#accept');
    await page.waitForLoadState('load');
    await page.waitForSelector('h1');
    await page.screenshot({ path: screenshot, fullPage: true });
    const text = await page.innerText('body');
    console.log(JSON.stringify({ url: page.url(), title: await page.title(), text, styled, violations }));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
