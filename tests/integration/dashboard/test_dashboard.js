'use strict';
// The dashboard (GET / of the web service, http/dashboard/) in headless Chromium (Debian's
// `chromium`), driven by playwright-core, against the real `mop standalone`: the page loads with
// no console error (a CSP violation is one), lists an MQTT client connected by paho
// (watch_client.py), its message-rate chart moves while mosquitto_pub publishes, and the kick
// button disconnects that client (paho sees DISCONNECT 0x98); on a phone-sized screen nothing
// is wider than the screen. With HTTP authentication (the `basic` provider), Chromium given a
// user name and password logs in when the 401 offers Basic and the page works; without them or
// with a wrong password it does not get the page (a 401, or ERR_INVALID_AUTH_CREDENTIALS). Screenshots go to $MOP_ARTIFACTS_DIR (CTest: <build>/artifacts/),
// or a temporary directory.
// Run: MOP_BIN=build/mop node --test --test-force-exit test_dashboard.js   (after `npm ci` here)
const test = require('node:test');
const assert = require('node:assert');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { launch } = require('../mop_launch.js');

const CHROMIUM = process.env.MOP_CHROMIUM || '/usr/bin/chromium';
const artifacts = process.env.MOP_ARTIFACTS_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'mop-dashboard-'));
const tag = `${process.pid}`;
const CLIENT_ID = `dash-watch-${tag}`;
const TOPIC = `dash/rate-${tag}`;

let mop;
let browser;
let page;
const children = [];
const pageErrors = [];  // console errors, uncaught exceptions, failed requests

// A child process whose stdout lines can be awaited.
function run(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  child.lines = [];
  child.output = '';
  const waiters = [];
  let pending = '';
  const onText = (chunk) => {
    child.output += chunk.toString();
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop();
    for (const line of lines) {
      child.lines.push(line);
      for (const w of waiters.slice()) if (w.re.test(line)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(line); }
    }
  };
  child.stdout.on('data', onText);
  child.stderr.on('data', (chunk) => { child.output += chunk.toString(); });
  child.waitFor = (re, ms = 10000) => {
    const seen = child.lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { re, resolve: (l) => { clearTimeout(timer); resolve(l); } };
      const timer = setTimeout(() => reject(new Error(`${cmd}: no line ${re} within ${ms} ms; output:\n${child.output}`)), ms);
      waiters.push(w);
    });
  };
  return child;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The number a chart's legend shows for one series.
async function legendValue(chart, series) {
  return Number(await page.locator(`#${chart} .value[data-series="${series}"]`).textContent());
}

test.before(async () => {
  mop = await launch();
  // --no-sandbox: CI runs as root, where Chromium refuses to start with its sandbox.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => pageErrors.push(`exception: ${e.message}`));
  page.on('requestfailed', (r) => pageErrors.push(`request failed: ${r.url()} ${r.failure().errorText}`));
});

test.after(async () => {
  if (browser) await browser.close();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (mop) {
    const code = await mop.stop();
    if (code !== 0) console.log(mop.log());
    mop.cleanup();
  }
});

test('the dashboard shows a client, its rates move while it publishes, and kick disconnects it', async () => {
  const web = `http://127.0.0.1:${mop.ready.web.port}`;
  const watcher = run('/usr/bin/python3', [path.join(__dirname, 'watch_client.py'), CLIENT_ID, String(mop.port), TOPIC]);
  await watcher.waitFor(/^subscribed$/);

  const res = await page.goto(web + '/');
  assert.strictEqual(res.status(), 200);
  assert.match(res.headers()['content-security-policy'], /default-src 'none'/);

  // The client is listed, connected, with its protocol and subscription.
  const row = page.locator(`#clients tr[data-key="${CLIENT_ID}"]`);
  await row.waitFor({ timeout: 10000 });
  assert.strictEqual(await row.getAttribute('data-connected'), 'true');
  const cells = await row.locator('td').allTextContents();
  assert.strictEqual(cells[0], CLIENT_ID);
  assert.strictEqual(cells[1], 'connected');
  assert.strictEqual(cells[2], 'MQTT 5');
  assert.strictEqual(cells[5], TOPIC);
  assert.ok(Number(await page.locator('#t-clients').textContent()) >= 1);
  assert.ok(await legendValue('chart-connections', 'mqtt') >= 1);

  // Quiet before: a couple of readings with nothing published.
  await page.waitForFunction(() => document.querySelector('#chart-rates .value[data-series="in"]').textContent !== '–');
  await sleep(2200);
  assert.strictEqual(await legendValue('chart-rates', 'in'), 0);
  const quiet = await page.locator('#chart-rates canvas').evaluate((c) => c.toDataURL());

  // Publish 200 messages over about 4 s with mosquitto_pub (one per line of its stdin); the
  // watcher gets each, so both lines of the chart move.
  const pub = run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mop.port), '-t', TOPIC, '-q', '0', '-l']);
  let maxIn = 0;
  let maxOut = 0;
  for (let i = 0; i < 200; i += 1) {
    pub.stdin.write(`message ${i}\n`);
    await sleep(20);
    if (i % 25 === 24) {
      maxIn = Math.max(maxIn, await legendValue('chart-rates', 'in'));
      maxOut = Math.max(maxOut, await legendValue('chart-rates', 'out'));
    }
  }
  pub.stdin.end();
  await sleep(1200);
  maxIn = Math.max(maxIn, await legendValue('chart-rates', 'in'));
  maxOut = Math.max(maxOut, await legendValue('chart-rates', 'out'));
  assert.ok(maxIn > 0, `the in rate moved (${maxIn}/s)`);
  assert.ok(maxOut > 0, `the out rate moved (${maxOut}/s)`);
  const busy = await page.locator('#chart-rates canvas').evaluate((c) => c.toDataURL());
  assert.notStrictEqual(busy, quiet, 'the rate chart was redrawn with the publishes');

  // The topic's row counts what was published.
  const topicRow = page.locator('#topics tbody tr').filter({ hasText: `rate-${tag}` });
  await page.waitForFunction((t) => {
    const r = [...document.querySelectorAll('#topics tbody tr')].find((tr) => tr.dataset.key && tr.dataset.key.includes(t));
    return r && r.children[3].textContent === '200';
  }, `rate-${tag}`, { timeout: 5000 });
  assert.strictEqual(await topicRow.count(), 1);
  await page.screenshot({ path: path.join(artifacts, 'dashboard.png'), fullPage: true });

  // Kick: confirm the dialog; paho is told with DISCONNECT 0x98 (administrative action, 152).
  page.once('dialog', (d) => d.accept());
  await row.locator('button.kick').click();
  const line = await watcher.waitFor(/^disconnected /);
  assert.strictEqual(line, 'disconnected 152');
  // Its session ends with the connection (session expiry 0), so its row goes.
  await row.waitFor({ state: 'detached', timeout: 5000 });
  assert.match(await page.locator('#notice').textContent(), new RegExp(`client "${CLIENT_ID}" disconnected`));

  // On a phone: nothing wider than the screen (the tables scroll inside their boxes).
  await page.setViewportSize({ width: 390, height: 844 });
  await sleep(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than a phone's screen`);
  await page.screenshot({ path: path.join(artifacts, 'dashboard-phone.png'), fullPage: true });

  assert.deepStrictEqual(pageErrors, []);
  console.log(`dashboard: in rate up to ${maxIn}/s, out up to ${maxOut}/s; screenshots in ${artifacts}`);
});

test('with HTTP authentication, a browser logs in with Basic', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mop-dashboard-auth-'));
  const password = `pw-${tag}`;
  const hash = execFileSync('openssl', ['passwd', '-apr1', password]).toString().trim();
  fs.writeFileSync(path.join(dir, 'users.conf'), `operator:${hash}\n`);
  const guarded = await launch({ args: ['--authenticationEnabled=true', '--authenticationProviders=basic',
                                        `--basicAuthConf=${path.join(dir, 'users.conf')}`] });
  const web = `http://127.0.0.1:${guarded.ready.web.port}/`;
  try {
    // No credentials (the login prompt dismissed), or a wrong password (refused again).
    let context;
    for (const options of [{}, { httpCredentials: { username: 'operator', password: 'wrong' } }]) {
      context = await browser.newContext(options);
      // Chromium either shows the 401 or stops the navigation, depending on how it ended the
      // challenge; never the page.
      const outcome = await (await context.newPage()).goto(web).then((r) => r.status(), (e) => e.message);
      if (typeof outcome === 'number') assert.strictEqual(outcome, 401, JSON.stringify(options));
      else assert.match(outcome, /ERR_INVALID_AUTH_CREDENTIALS/);
      await context.close();
    }
    assert.match(guarded.log(), /GET \/: authentication refused: no credentials given/);
    assert.match(guarded.log(), /GET \/: authentication refused: .*operator/);
    // The operator's password: Chromium answers the Basic challenge, and the page's own
    // requests (/metrics, /mop/*) go through with it.
    context = await browser.newContext({ httpCredentials: { username: 'operator', password } });
    const p = await context.newPage();
    const errors = [];
    p.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    p.on('pageerror', (e) => errors.push(e.message));
    const res = await p.goto(web);
    assert.strictEqual(res.status(), 200);
    await p.waitForFunction(() => document.getElementById('status').textContent.startsWith('updated'), null,
                            { timeout: 5000 });
    assert.match(await p.locator('#t-clients').textContent(), /^\d+$/);
    assert.deepStrictEqual(errors, []);
    await context.close();
  } finally {
    assert.strictEqual(await guarded.stop(), 0);
    guarded.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
