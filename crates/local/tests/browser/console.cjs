// Drives headless Chromium (Debian's, via playwright-core) through the partner console against
// `cargo run`'s binary and its sandbox provider, as a partner and a client's administrator
// would, taking a screenshot of every page at 1440 and 390 px wide and running axe-core on
// each. Prints one JSON line with what it saw.
// Usage: node console.cjs <base-url> <outbox-dir> <artifacts-dir> walk|reauth
// CommonJS so that NODE_PATH (set by scripts/services.sh) finds playwright-core and axe-core.
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const [base, outbox, artifacts, mode] = process.argv.slice(2);
if (!base || !outbox || !artifacts || !mode) {
  console.error('usage: node console.cjs <base-url> <outbox-dir> <artifacts-dir> walk|reauth');
  process.exit(2);
}
const PASSWORD = 'correct horse battery staple';

// The text of every part of an .eml (base64 and quoted-printable decoded).
function mailText(file) {
  const raw = fs.readFileSync(file, 'utf8');
  let out = '';
  for (const part of raw.split(/\r?\n--[^\r\n]+\r?\n/)) {
    const split = part.search(/\r?\n\r?\n/);
    if (split < 0) continue;
    const headers = part.slice(0, split);
    let body = part.slice(split).trim();
    if (/content-transfer-encoding:\s*base64/i.test(headers)) {
      body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    } else if (/content-transfer-encoding:\s*quoted-printable/i.test(headers)) {
      body = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
    }
    out += body + '\n';
  }
  return out;
}

// The newest mail whose text matches `re` (waits up to 10 s): the first capture group.
async function fromMail(re) {
  for (let i = 0; i < 100; i += 1) {
    const files = fs.readdirSync(outbox).filter((f) => f.endsWith('.eml')).sort().reverse();
    for (const f of files) {
      const m = mailText(path.join(outbox, f)).match(re);
      if (m) return m[1];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail matching ${re}`);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const seen = { pages: [], axe: [], csp: [], timings: {} };
  const started = Date.now();
  try {
    const partner = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await partner.newPage();
    page.setDefaultTimeout(20000);
    page.on('console', (msg) => {
      if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) seen.csp.push(msg.text());
    });
    // A screenshot at both widths and an accessibility pass (axe-core, evaluated through the
    // DevTools protocol, so the page's own policy still forbids inline scripts).
    // A page whose discovery runs reloads itself when it ends: wait for that first.
    const settled = async () => {
      for (let i = 0; i < 300; i += 1) {
        let busy = true;
        try {
          await page.waitForLoadState('load');
          busy = await page.evaluate(() => {
            const p = document.getElementById('progress');
            return !!p && p.dataset.busy === 'true';
          });
        } catch (e) {
          busy = true; // navigating
        }
        if (!busy) return;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error('discovery did not finish within 60 s');
    };
    const shoot = async (name) => {
      await settled();
      await page.setViewportSize({ width: 1440, height: 900 });
      await page.screenshot({ path: path.join(artifacts, `${name}-1440.png`), fullPage: true });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: path.join(artifacts, `${name}-390.png`), fullPage: true });
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      await page.setViewportSize({ width: 1440, height: 900 });
      if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(axeSource);
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
      for (const v of result.violations) {
        if (v.impact === 'serious' || v.impact === 'critical') {
          seen.axe.push({ page: name, id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) });
        }
      }
      seen.pages.push({ name, title: await page.title(), width390: wide });
    };
    const text = async () => page.innerText('main');

    // Sign up, confirm the emailed code: signed in.
    await page.goto(`${base}/console/sign-up`);
    await shoot('sign-up');
    const email = mode === 'walk' ? 'owner@msp.example' : 'reauth@msp.example';
    await page.fill('#organization', mode === 'walk' ? 'Acme IT' : 'Reauth IT');
    await page.fill('#email', email);
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('#code');
    await shoot('confirm');
    await page.fill('#code', await fromMail(/code is: (\d{6})/));
    await page.click('button[type=submit]');
    await page.waitForSelector('h1:has-text("Protection status")');
    await shoot('status-empty');

    if (mode === 'walk') {
      // A client-managed Microsoft 365 account, without admin credentials: the link is emailed.
      await page.click('nav >> text=New SaaS account');
      await page.waitForSelector('#client_name');
      await shoot('new-account');
      await page.fill('#client_name', 'Contoso');
      await page.fill('#authorization_email', 'admin@contoso.example');
      await page.click('button:has-text("Add the account")');
      await page.waitForSelector('text=Link sent to admin@contoso.example');
      await shoot('account-waiting');
      const accountUrl = page.url().split('?')[0];

      // The client's administrator, in another browser, consents in the sandbox.
      const link = await fromMail(/(http:\/\/[^\s]+\/authorize\/[A-Za-z0-9._~-]+)/);
      const admin = await (await browser.newContext()).newPage();
      admin.setDefaultTimeout(20000);
      await admin.goto(link);
      await admin.click('#authorize');
      await admin.waitForSelector('#sign-in');
      await admin.click('#sign-in');
      await admin.waitForSelector('#accept');
      await admin.click('#accept');
      await admin.waitForSelector('h1');
      seen.adminResult = await admin.innerText('h1');

      // The partner sees Active, presses Refresh, and watches the progress to the users.
      await page.goto(`${base}/console`);
      await page.waitForSelector('.badge:has-text("Active")');
      await shoot('status');
      seen.status = await text();
      await page.goto(accountUrl);
      const t0 = Date.now();
      await page.click('#refresh');
      await page.waitForSelector('text=Discovery is queued');
      seen.progressStart = await page.innerText('#progress');
      await page.waitForFunction(() => document.querySelector('#progress').dataset.busy === 'false' && document.querySelectorAll('input[name=ids]').length > 0, null, { timeout: 60000 });
      seen.timings.refreshToUsersMs = Date.now() - t0;
      seen.progressEnd = await page.innerText('#progress');
      await shoot('account-users');

      // Search one user.
      // The name cell's own text (its "new" badge aside).
      const names = await page.$$eval('#rows tbody tr td:nth-child(2)', (tds) => tds.map((td) => td.firstChild.textContent.trim()));
      const wanted = names[4];
      await page.fill('#q', wanted);
      await page.click('button:has-text("Search")');
      await page.waitForLoadState('load');
      seen.search = { wanted, rows: await page.$$eval('#rows tbody tr', (trs) => trs.map((tr) => tr.innerText)) };
      await shoot('account-search');

      // Protect three: select them, Protect selected.
      await page.goto(`${accountUrl}?tab=users`);
      const boxes = await page.$$('input[name=ids]');
      for (const b of boxes.slice(0, 3)) await b.check();
      await page.click('#protect-selected');
      await page.waitForSelector('text=Protection changed.');
      seen.seatsAfterProtect = await page.innerText('#seats');
      seen.protectedRows = await page.$$eval('#rows tbody tr', (trs) => trs.filter((tr) => /Unprotect/.test(tr.innerText)).length);
      await shoot('account-protected');

      // Auto add for Sites at 20:00 Sydney.
      await page.click('.tabs >> text=Sites');
      await page.waitForSelector('h2:has-text("Sites")');
      await page.check('input[name=sites]');
      await page.fill('#run_at', '20:00');
      await page.fill('#timezone', 'Australia/Sydney');
      await page.click('#save-auto-add');
      await page.waitForSelector('text=Auto add saved.');
      seen.autoAdd = await page.innerText('section[aria-labelledby=auto-h]');
      seen.autoAddYours = await page.innerText('#next-run-yours');
      await shoot('account-sites-auto-add');

      // Seats, Team, Offers, Audit.
      await page.click('nav >> text=Seats');
      await page.waitForSelector('h1:has-text("Seats")');
      seen.seats = await text();
      await shoot('seats');
      await page.click('nav >> text=Team');
      await page.fill('#invite-email', 'tech@msp.example');
      await page.click('button:has-text("Send the invitation")');
      await page.waitForSelector('text=Invitation sent');
      await shoot('team');
      await page.click('nav >> text=Offers');
      await page.fill('#label', 'Website');
      await page.click('button:has-text("Create the offer link")');
      await page.waitForSelector('text=Offer link created');
      await shoot('offers');
      await page.click('nav >> text=Audit');
      await page.waitForSelector('h1:has-text("Audit log")');
      seen.audit = await text();
      await shoot('audit');
      // Sign out; the public pages.
      await page.click('button:has-text("Sign out")');
      await page.waitForSelector('h1:has-text("Sign in")');
      await shoot('sign-in');
      await page.click('text=Forgot your password?');
      await page.waitForSelector('h1:has-text("Forgot")');
      await shoot('forgot');
    } else {
      // The tenant's consent will lack a permission: the account needs reauthorization.
      const faults = async (body) => {
        const r = await page.request.post(`${base}/sandbox/faults`, { data: body });
        if (!r.ok()) throw new Error(`faults: ${r.status()}`);
      };
      await faults({ granted_roles: ['User.Read.All', 'Group.Read.All', 'Sites.Read.All', 'Mail.ReadWrite'] });
      await page.click('nav >> text=New SaaS account');
      await page.fill('#client_name', 'Fabrikam');
      await page.check('input[name=managed_by][value=partner]');
      await page.check('input[name=admin][value=yes]');
      await page.click('button:has-text("Add the account")');
      // "Yes": straight to the consent, signed in as the tenant's admin.
      await page.waitForSelector('#sign-in');
      await page.click('#sign-in');
      await page.waitForSelector('#accept');
      await page.click('#accept');
      await page.waitForSelector('#begin');
      seen.banner = await page.innerText('.banner');
      await shoot('account-reauthorization');
      await faults({});
      await page.click('#begin');
      // The admin may be asked to sign in again before the consent.
      await page.waitForSelector('#accept, #sign-in');
      if (await page.$('#sign-in')) {
        await page.click('#sign-in');
        await page.waitForSelector('#accept');
      }
      await page.click('#accept');
      await page.waitForSelector('.badge:has-text("Active")');
      seen.afterBegin = await page.innerText('h1');
      seen.bannerGone = (await page.$('#begin')) === null;
      await shoot('account-reauthorized');
    }
    seen.timings.totalMs = Date.now() - started;
    console.log(JSON.stringify(seen));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
