/**
 * The Limits page and what approval cards show of limits and labels (issue 14),
 * in headless Chromium against the real, running stack, at phone width
 * (390×844) and on a desktop:
 * log in → the Limits page says there are none → add a rolling limit and a
 * per-transaction limit, save with a TOTP code → the rules read in plain
 * language → label an address in the address book → the agent's request
 * within the limits reaches the inbox, showing "0.3 of 1 ETH in the last
 * 24 hours" and the label beside the full address; the one over the limit is
 * refused and only counted on the Limits page.
 *
 * Environment (set by the test harness): COUNTERSIGN_API_URL, WEB3_PROVIDER_URI,
 * CHROMIUM_PATH (optional). Screenshots go to test-results/limits-*.png.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { generate } from 'otplib';

const API_URL = (process.env.COUNTERSIGN_API_URL ?? '').replace(/\/+$/, '');
const RPC_URL = process.env.WEB3_PROVIDER_URI ?? '';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const RESULTS = join(process.cwd(), 'test-results');
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };
const STEP_MS = 30_000;
const ETH = 10n ** 18n;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const byTestId = (scope: Page | Locator, id: string) => scope.locator(`[data-testid="${id}"]`);
const randomAddress = () => `0x${randomBytes(20).toString('hex')}`;

/** Codes as a phone shows them; each MFA action waits for a step not used yet (the server takes a step once). */
function authenticator(secret: string) {
  let last = -1;
  return async () => {
    let step = Math.floor(Date.now() / STEP_MS);
    if (step <= last) {
      await sleep((last + 1) * STEP_MS - Date.now() + 250);
      step = Math.floor(Date.now() / STEP_MS);
    }
    last = step;
    return generate({ secret, epoch: step * 30 });
  };
}

async function api<T>(method: string, path: string, auth: { token?: string; apiKey?: string }, body?: unknown): Promise<{ status: number; json: T }> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  if (auth.apiKey) headers['X-API-Key'] = auth.apiKey;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(`${API_URL}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, json: (text ? JSON.parse(text) : undefined) as T };
}

async function rpc(method: string, params: unknown[]): Promise<void> {
  const response = await fetch(RPC_URL, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  const json = (await response.json()) as { error?: { message?: string } };
  if (json.error) throw new Error(`${method}: ${json.error.message}`);
}

describe('the Limits page and limits on approval cards, in Chromium', { concurrency: false }, () => {
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const username = `lim-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const password = `correct horse ${randomBytes(8).toString('hex')}`;
  const landlord = randomAddress();
  let code: () => Promise<string>;
  let token = '';
  let wallet = '';
  let apiKey = '';
  let withinLimits = '';

  async function screenshot(name: string) {
    const viewport = page.viewportSize() ?? PHONE;
    const height = await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollHeight: number } } }).document.documentElement.scrollHeight);
    await page.setViewportSize({ width: viewport.width, height: Math.max(viewport.height, Math.min(height, 8000)) });
    await page.screenshot({ path: join(RESULTS, `limits-${name}.png`) });
    await page.setViewportSize(viewport);
  }

  before(async () => {
    assert.ok(API_URL && RPC_URL, 'COUNTERSIGN_API_URL and WEB3_PROVIDER_URI must be set (the test harness sets them)');
    mkdirSync(RESULTS, { recursive: true });
    // The account, MFA, a funded wallet and an agent through the API (the approval test drives those screens).
    assert.equal((await api('POST', '/api/register', {}, { username, password })).status, 201);
    token = (await api<{ access_token: string }>('POST', '/api/login', {}, { username, password })).json.access_token;
    const setup = await api<{ secret: string }>('POST', '/api/setup_mfa', { token });
    code = authenticator(setup.json.secret);
    assert.equal((await api('POST', '/api/confirm_mfa', { token }, { mfa_code: await code() })).status, 200);
    wallet = (await api<{ address: string }>('POST', '/api/create_wallet', { token }, { password, label: 'Household' })).json.address;
    await rpc('anvil_setBalance', [wallet, '0x8ac7230489e80000']);
    const agent = await api<{ api_key: string }>('POST', '/api/agents', { token }, { name: 'Rent bot', wallet_addresses: [wallet], mfa_code: await code() });
    assert.equal(agent.status, 201);
    apiKey = agent.json.api_key;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--headless=new', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-gpu'],
    });
    page = await (await browser.newContext({ viewport: PHONE })).newPage();
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
  });

  after(async () => {
    await browser?.close();
  });

  test('log in; the Limits page says there are none', async () => {
    await page.goto(`${API_URL}/#/login`);
    await byTestId(page, 'login-username').fill(username);
    await byTestId(page, 'login-password').fill(password);
    await byTestId(page, 'login-submit').click();
    await byTestId(page, 'nav-limits').click();
    await byTestId(page, 'limits-none').waitFor();
    await screenshot('01-empty-phone');
  });

  test('add a rolling limit and a per-transaction limit, saved with a code; they read in plain language', async () => {
    await byTestId(page, 'limits-add-type').selectOption('rolling_limit');
    await byTestId(page, 'limits-add-amount').fill('1');
    await byTestId(page, 'limits-add-window').selectOption('24h');
    await byTestId(page, 'limits-add-submit').click();
    await byTestId(page, 'limits-add-type').selectOption('max_per_transaction');
    await byTestId(page, 'limits-add-amount').fill('0.5');
    await byTestId(page, 'limits-add-submit').click();
    assert.equal(await byTestId(page, 'limits-rule').count(), 2);
    await screenshot('02-unsaved-phone');
    await byTestId(page, 'limits-code').fill(await code());
    await byTestId(page, 'limits-save-submit').click();
    await page.locator('[data-testid="limits-rules"][data-version="1"]').waitFor();
    const texts = await byTestId(page, 'limits-rule-text').allInnerTexts();
    assert.deepEqual(texts, ['At most 1 ETH in any 24 hours (requests waiting for you count too)', 'At most 0.5 ETH per transaction']);
    const policy = await api<{ version: number; rules: { type: string; amount: string }[] }>('GET', `/api/wallets/${wallet}/policy`, { token });
    assert.deepEqual(policy.json.rules.map((r) => [r.type, r.amount]), [['rolling_limit', ETH.toString()], ['max_per_transaction', (ETH / 2n).toString()]]);
  });

  test('label an address in the address book (a label that looks like an address is refused)', async () => {
    await byTestId(page, 'address-book-address').fill(landlord);
    await byTestId(page, 'address-book-label').fill('0x70997970 landlord');
    await byTestId(page, 'address-book-code').fill('123456');
    await byTestId(page, 'address-book-save').click();
    await byTestId(page, 'address-book-error').filter({ hasText: 'must not look like an address' }).waitFor();
    await byTestId(page, 'address-book-label').fill('Landlord');
    await byTestId(page, 'address-book-code').fill(await code());
    await byTestId(page, 'address-book-save').click();
    await page.locator(`[data-testid="address-book-entry"][data-address="${landlord}"]`).waitFor();
    await screenshot('03-limits-and-book-phone');
  });

  test('a request within the limits reaches the inbox with the limits it sits under and the label beside the address; one over them is refused', async () => {
    const within = await api<{ transaction_id: string }>('POST', '/api/prepare_transaction', { apiKey }, { wallet_address: wallet, kind: 'native', to_address: landlord, amount: ((3n * ETH) / 10n).toString(), memo: 'Rent, March' });
    assert.equal(within.status, 202, JSON.stringify(within.json));
    withinLimits = within.json.transaction_id;
    const over = await api<{ error: { code: string; details: { type: string }[] } }>('POST', '/api/prepare_transaction', { apiKey }, { wallet_address: wallet, kind: 'native', to_address: landlord, amount: ((6n * ETH) / 10n).toString() });
    assert.equal(over.status, 403);
    assert.equal(over.json.error.code, 'policy_denied');

    await byTestId(page, 'nav-inbox').click();
    const card = page.locator(`[data-testid="tx-card"][data-transaction-id="${withinLimits}"]`);
    await card.waitFor();
    const limits = await byTestId(card, 'tx-limit').allInnerTexts();
    assert.deepEqual(limits.map((t) => t.trim()), [
      '0.3 of 1 ETH in the last 24 hours, this request’s 0.3 ETH included',
      '0.3 ETH of at most 0.5 ETH per transaction',
    ]);
    assert.equal((await byTestId(card, 'tx-recipient-name').innerText()).trim(), 'Landlord');
    assert.equal((await byTestId(card, 'tx-recipient').innerText()).trim().toLowerCase(), landlord, 'the full address is shown beside the label');
    assert.equal(await page.locator('[data-testid="tx-card"]').count(), 1, 'the refused request never reached the inbox');
    await screenshot('04-card-phone');
    await page.setViewportSize(DESKTOP);
    await screenshot('05-card-desktop');
  });

  test('the Limits page counts the refusal and shows what is used (desktop, then phone)', async () => {
    await byTestId(page, 'nav-limits').click();
    await byTestId(page, 'limits-refused-count').filter({ hasText: '1 request refused' }).waitFor();
    assert.match(await byTestId(page, 'limits-refusal').first().innerText(), /Rent bot: sends 0\.6 ETH; at most 0\.5 ETH per transaction is allowed/);
    assert.equal((await byTestId(page, 'limits-rule-usage').first().innerText()).trim(), '0.3 ETH used or waiting for you');
    await screenshot('06-limits-desktop');
    await page.setViewportSize(PHONE);
    await screenshot('07-limits-phone');
    const overflow = await page.evaluate(() => {
      const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
      return d.scrollWidth - d.clientWidth;
    });
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at phone width`);
  });

  test('no errors in the browser console', () => {
    assert.deepEqual(problems, []);
  });
});
