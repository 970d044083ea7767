/**
 * End to end in headless Chromium against the real, running stack (issue 6):
 * register → enrol MFA (secret read from the page, codes computed here) → create
 * a wallet and an agent → the agent prepares two transactions through the API →
 * both appear in the inbox without a reload → a wrong code is refused → both are
 * approved with one code → the agent executes → history shows them confirmed with
 * tx hashes. Also: a replayed code, a rejection with a reason, an expired request,
 * the session surviving a reload (cookie) and ending at logout; and the Security
 * screen at phone width: the session list, signing another session out,
 * changing the password (other sessions end), signing out everywhere from a
 * cookie session (CSRF token and Origin checked by the API).
 *
 * Environment (set by the test harness):
 *   COUNTERSIGN_API_URL  base URL of the API, which also serves the built web app at `/`
 *   WEB3_PROVIDER_URI    the dev chain's JSON-RPC (anvil), used only to fund the new wallet
 *   COUNTERSIGN_E2E_APPROVAL_TTL  optional, seconds for the "expired request" case (default 60, the API's minimum)
 *   CHROMIUM_PATH        optional, default /usr/bin/chromium
 * Screenshots of the key screens go to test-results/ on every run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { generate } from 'otplib';

const API_URL = (process.env.COUNTERSIGN_API_URL ?? '').replace(/\/+$/, '');
const RPC_URL = process.env.WEB3_PROVIDER_URI ?? '';
const APPROVAL_TTL = Number(process.env.COUNTERSIGN_E2E_APPROVAL_TTL ?? 60); // the API's minimum
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const RESULTS = join(process.cwd(), 'test-results');
const PHONE = { width: 375, height: 812 };
const DESKTOP = { width: 1280, height: 900 };
const STEP_MS = 30_000;
const UI_TIMEOUT = 20_000;

// ---------------------------------------------------------------- helpers

/** The few browser globals the page callbacks touch (the root tsconfig has no DOM lib). */
interface PageGlobals {
  localStorage: { length: number };
  sessionStorage: { length: number };
  navigator: { clipboard: { readText(): Promise<string> } };
  document: { documentElement: { scrollHeight: number; scrollWidth: number; clientWidth: number } };
  e2eMarker?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * TOTP codes as a phone would show them. The server accepts each 30-second
 * step at most once per user, so every MFA action waits for a step not used yet.
 */
function createAuthenticator(secret: string) {
  let lastStep = -1;
  return {
    async fresh(): Promise<string> {
      let step = Math.floor(Date.now() / STEP_MS);
      if (step <= lastStep) {
        await sleep((lastStep + 1) * STEP_MS - Date.now() + 250);
        step = Math.floor(Date.now() / STEP_MS);
      }
      lastStep = step;
      return generate({ secret, epoch: step * 30 });
    },
    /** The code last handed out again (for the replay case). */
    async replay(): Promise<string> {
      return generate({ secret, epoch: lastStep * 30 });
    },
    /** A 6-digit code that is valid for neither the current nor the previous step. */
    async wrong(): Promise<string> {
      const now = Math.floor(Date.now() / STEP_MS);
      const valid = new Set([await generate({ secret, epoch: now * 30 }), await generate({ secret, epoch: (now - 1) * 30 }), await generate({ secret, epoch: (now + 1) * 30 })]);
      let candidate = Number(await generate({ secret, epoch: now * 30 }));
      let code: string;
      do {
        candidate = (candidate + 137_911) % 1_000_000;
        code = String(candidate).padStart(6, '0');
      } while (valid.has(code));
      return code;
    },
  };
}

async function agentCall<T>(apiKey: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const response = await fetch(`${API_URL}${path}`, {
    method,
    headers: { 'X-API-Key': apiKey, Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: (text ? JSON.parse(text) : undefined) as T };
}

async function rpc(method: string, params: unknown[]): Promise<unknown> {
  const response = await fetch(RPC_URL, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const json = (await response.json()) as { result?: unknown; error?: { message?: string } };
  if (json.error) throw new Error(`${method}: ${json.error.message}`);
  return json.result;
}

const randomAddress = () => `0x${randomBytes(20).toString('hex')}`;
const byTestId = (page: Page | Locator, id: string) => page.locator(`[data-testid="${id}"]`);
const card = (page: Page, transactionId: string) => page.locator(`[data-testid="tx-card"][data-transaction-id="${transactionId}"]`);
const historyRow = (page: Page, transactionId: string, status?: string) =>
  page.locator(`[data-testid="history-row"][data-transaction-id="${transactionId}"]${status ? `[data-status="${status}"]` : ''}`);

// ---------------------------------------------------------------- the run

describe('approval web app, end to end in Chromium', { concurrency: false }, () => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const consoleProblems: string[] = [];
  /** Deliberate 4xx answers (wrong code, replayed code) make Chromium log "Failed to load resource". */
  let expectedHttpErrors = 0;

  const username = `e2e-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  let password = `correct horse ${randomBytes(8).toString('hex')}`;
  let authenticator: ReturnType<typeof createAuthenticator>;
  let walletAddress = '';
  let apiKey = '';
  const ids: { first?: string; second?: string; third?: string; fourth?: string } = {};
  let shot = 0;

  /** The whole page: the viewport grows to the document for the shot, so the sticky approve bar sits at the bottom. */
  async function screenshot(name: string) {
    shot += 1;
    const viewport = page.viewportSize() ?? PHONE;
    const height = await page.evaluate(() => (globalThis as unknown as PageGlobals).document.documentElement.scrollHeight);
    await page.setViewportSize({ width: viewport.width, height: Math.max(viewport.height, Math.min(height, 8000)) });
    await page.screenshot({ path: join(RESULTS, `${String(shot).padStart(2, '0')}-${name}.png`) });
    await page.setViewportSize(viewport);
  }

  async function go(route: string) {
    await byTestId(page, `nav-${route}`).click();
    await page.locator('h1').first().waitFor();
  }

  async function prepareNative(amountWei: string, memo: string, extra: Record<string, unknown> = {}): Promise<string> {
    const { status, json } = await agentCall<{ transaction_id?: string; status?: string; digest?: string; error?: unknown }>(apiKey, 'POST', '/api/prepare_transaction', {
      wallet_address: walletAddress,
      kind: 'native',
      to_address: randomAddress(),
      amount: amountWei,
      memo,
      ...extra,
    });
    assert.equal(status, 202, `prepare_transaction answered ${status}: ${JSON.stringify(json)}`);
    assert.equal(json.status, 'pending_approval');
    assert.match(String(json.digest), /^0x[0-9a-f]{64}$/);
    return String(json.transaction_id);
  }

  before(async () => {
    assert.ok(API_URL, 'COUNTERSIGN_API_URL must point at the running API (the test harness sets it)');
    assert.ok(RPC_URL, 'WEB3_PROVIDER_URI must point at the dev chain (the test harness sets it)');
    mkdirSync(RESULTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--headless=new', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-gpu'],
    });
    context = await browser.newContext({ viewport: PHONE, permissions: ['clipboard-read', 'clipboard-write'] });
    page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT);
    page.on('pageerror', (error) => consoleProblems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() !== 'error' && message.type() !== 'warning') return;
      const text = message.text();
      if (expectedHttpErrors > 0 && /Failed to load resource: the server responded with a status of (403|409)/.test(text)) {
        expectedHttpErrors -= 1;
        return;
      }
      if (message.type() === 'error') consoleProblems.push(`console: ${text}`);
    });
  });

  after(async () => {
    await browser?.close();
  });

  test('register and land on MFA enrolment', async () => {
    await page.goto(`${API_URL}/#/register`);
    await byTestId(page, 'register-username').fill(username);
    await byTestId(page, 'register-password').fill(password);
    await screenshot('register');
    await byTestId(page, 'register-submit').click();
    await byTestId(page, 'mfa-start').waitFor();
    assert.equal(await page.evaluate(() => {
      const g = globalThis as unknown as PageGlobals;
      return [g.localStorage.length, g.sessionStorage.length];
    }).then((n) => n.join(',')), '0,0', 'nothing is kept in web storage');
  });

  test('enrol MFA with the secret shown on the page', async () => {
    await byTestId(page, 'mfa-start').click();
    const secret = (await byTestId(page, 'mfa-secret').innerText()).trim();
    assert.match(secret, /^[A-Z2-7]{16,}=*$/, 'a base32 secret is shown for manual entry');
    const qr = await byTestId(page, 'mfa-qr').getAttribute('src');
    assert.match(String(qr), /^data:image\/(png|svg\+xml)/, 'the QR code is an image data URL');
    assert.ok(await byTestId(page, 'mfa-qr').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth > 0), 'the QR image renders');
    await screenshot('mfa-enrolment');
    authenticator = createAuthenticator(secret);
    await byTestId(page, 'mfa-confirm-code').fill(await authenticator.fresh());
    await byTestId(page, 'mfa-confirm-submit').click();
    await byTestId(page, 'mfa-enabled').waitFor();
    await screenshot('mfa-enabled');
  });

  test('create a wallet (funded on the dev chain)', async () => {
    await go('wallets');
    await byTestId(page, 'wallet-create-label').fill('E2E wallet');
    await byTestId(page, 'wallet-create-password').fill(password);
    await byTestId(page, 'wallet-create-submit').click();
    const row = byTestId(page, 'wallet-row').first();
    await row.waitFor();
    walletAddress = String(await row.getAttribute('data-address'));
    assert.match(walletAddress, /^0x[0-9a-f]{40}$/);
    await rpc('anvil_setBalance', [walletAddress, '0x8ac7230489e80000']); // 10 ETH for value + gas
    await page.reload();
    await byTestId(page, 'wallet-row').first().waitFor();
    await screenshot('wallets');
  });

  test('create an agent with the wallet; the key is shown once and can be copied', async () => {
    await go('agents');
    await byTestId(page, 'agent-create-name').fill('E2E payment agent');
    await page.locator(`[data-testid="agent-create-wallet"][value="${walletAddress}"]`).check();
    await byTestId(page, 'agent-create-code').fill(await authenticator.fresh());
    await byTestId(page, 'agent-create-submit').click();
    const keyInput = byTestId(page, 'agent-api-key');
    await keyInput.waitFor();
    apiKey = await keyInput.inputValue();
    assert.ok(apiKey.length >= 32, 'an API key is shown');
    await byTestId(page, 'agent-api-key-copy').click();
    await page.locator('[data-testid="agent-api-key-copy"]', { hasText: 'Copied' }).waitFor();
    assert.equal(await page.evaluate(() => (globalThis as unknown as PageGlobals).navigator.clipboard.readText()), apiKey, 'the copy button copies the key');
    const row = byTestId(page, 'agent-row').first();
    await row.locator(`[data-testid="agent-wallet"][data-address="${walletAddress}"]`).waitFor();
    await screenshot('agent-key-shown-once');
    await byTestId(page, 'agent-key-done').click();
    await page.reload();
    await byTestId(page, 'agent-row').first().waitFor();
    assert.equal(await byTestId(page, 'agent-api-key').count(), 0, 'the key is not shown again');
  });

  test('two prepared transactions appear in the inbox live, without a reload', async () => {
    await go('inbox');
    await byTestId(page, 'inbox-count').filter({ hasText: 'waiting' }).waitFor();
    // The event stream is connected (the 20-second fallback poll runs only when it is not).
    await page.locator('[data-testid="live-status"][data-state="live"]').waitFor();
    // A marker on window survives only if the page is never reloaded.
    await page.evaluate(() => {
      (globalThis as unknown as PageGlobals).e2eMarker = 'same-page';
    });
    ids.first = await prepareNative('10000000000000000', 'Pay invoice 1001');
    ids.second = await prepareNative('20000000000000000', 'Pay invoice 1002');
    ids.third = await prepareNative('30000000000000000', 'Pay invoice 1003 (to be rejected)');

    for (const id of [ids.first, ids.second, ids.third]) await card(page, id).waitFor({ timeout: 15_000 });
    assert.equal(await byTestId(page, 'live-status').getAttribute('data-state'), 'live', 'delivered over the live stream');
    assert.equal(await page.evaluate(() => (globalThis as unknown as PageGlobals).e2eMarker), 'same-page', 'no reload happened');

    const first = card(page, ids.first);
    assert.equal((await byTestId(first, 'tx-amount').innerText()).trim(), '0.01 ETH');
    assert.equal((await byTestId(first, 'tx-agent').innerText()).trim(), 'E2E payment agent');
    assert.match(await byTestId(first, 'tx-memo').innerText(), /Pay invoice 1001/);
    await byTestId(first, 'tx-new-recipient').waitFor();
    await byTestId(first, 'tx-digest-ok').waitFor();
    await byTestId(first, 'tx-expiry').waitFor();
    await byTestId(first, 'tx-fee-cap').filter({ hasText: 'ETH' }).waitFor();
    await screenshot('inbox-live');
    await page.setViewportSize(DESKTOP);
    await screenshot('inbox-desktop');
    await page.setViewportSize(PHONE);
  });

  test('a wrong code is refused with a clear message (keyboard only)', async () => {
    for (const id of [ids.first!, ids.second!]) {
      const checkbox = byTestId(card(page, id), 'tx-select');
      await checkbox.focus();
      await page.keyboard.press('Space');
      assert.ok(await checkbox.isChecked());
    }
    await byTestId(page, 'approve-count').filter({ hasText: '2 selected' }).waitFor();
    await byTestId(page, 'approve-code').focus();
    await page.keyboard.type(await authenticator.wrong());
    expectedHttpErrors += 1;
    await page.keyboard.press('Enter');
    await byTestId(page, 'approve-error').filter({ hasText: 'Wrong code' }).waitFor();
    assert.equal(await card(page, ids.first!).getAttribute('data-status'), 'pending_approval');
    await screenshot('wrong-code');
  });

  test('both are approved with one code', async () => {
    await byTestId(page, 'approve-code').fill(await authenticator.fresh());
    await byTestId(page, 'approve-submit').click();
    await byTestId(page, 'approve-done').filter({ hasText: 'Approved 2' }).waitFor();
    for (const id of [ids.first!, ids.second!]) await page.locator(`[data-testid="tx-card"][data-transaction-id="${id}"][data-status="approved"]`).waitFor();
    assert.equal(await card(page, ids.third!).getAttribute('data-status'), 'pending_approval', 'the unselected one is untouched');
    await screenshot('approved');
  });

  test('the same code cannot approve another request', async () => {
    await byTestId(card(page, ids.third!), 'tx-select').check();
    await byTestId(page, 'approve-code').fill(await authenticator.replay());
    expectedHttpErrors += 1;
    await byTestId(page, 'approve-submit').click();
    await byTestId(page, 'approve-error').filter({ hasText: 'already been used' }).waitFor();
    assert.equal(await card(page, ids.third!).getAttribute('data-status'), 'pending_approval');
    await byTestId(card(page, ids.third!), 'tx-select').uncheck();
  });

  test('a request is rejected with a reason', async () => {
    const third = card(page, ids.third!);
    await byTestId(third, 'reject-open').click();
    await byTestId(third, 'reject-reason').fill('Invoice 1003 was already paid');
    await byTestId(third, 'reject-submit').click();
    await page.locator(`[data-testid="tx-card"][data-transaction-id="${ids.third}"][data-status="rejected"]`).waitFor();
    await byTestId(third, 'tx-final-note').filter({ hasText: 'rejected' }).waitFor();
    const { json } = await agentCall<{ status?: string }>(apiKey, 'GET', `/api/transaction_status?transaction_id=${ids.third}`);
    assert.equal(json.status, 'rejected', 'the agent sees the rejection');
    await screenshot('rejected');
  });

  test('the agent executes; history shows both confirmed with tx hashes', async () => {
    for (const id of [ids.first!, ids.second!]) {
      const { status, json } = await agentCall(apiKey, 'POST', '/api/execute_transaction', { transaction_id: id });
      assert.equal(status, 202, `execute_transaction answered ${status}: ${JSON.stringify(json)}`);
    }
    await go('history');
    for (const id of [ids.first!, ids.second!]) {
      const row = historyRow(page, id, 'confirmed');
      await row.waitFor({ timeout: 120_000 });
      const hash = (await byTestId(row, 'history-tx-hash').innerText()).trim();
      assert.match(hash, /^0x[0-9a-fA-F]{64}$/);
      const confirmations = Number((await byTestId(row, 'history-confirmations').innerText()).trim());
      assert.ok(confirmations >= 1, 'at least one confirmation');
      const { json } = await agentCall<{ status?: string; tx_hash?: string }>(apiKey, 'GET', `/api/transaction_status?transaction_id=${id}`);
      assert.equal(json.status, 'confirmed');
      assert.equal(String(json.tx_hash).toLowerCase(), hash.toLowerCase(), 'the page shows the hash the API reports');
      const receipt = (await rpc('eth_getTransactionReceipt', [hash])) as { status?: string } | null;
      assert.equal(receipt?.status, '0x1', 'the transaction is on chain');
    }
    const rejectedRow = historyRow(page, ids.third!, 'rejected');
    await rejectedRow.waitFor();
    await byTestId(rejectedRow, 'history-rejection-reason').filter({ hasText: 'Invoice 1003 was already paid' }).waitFor();
    await screenshot('history-confirmed');
    await page.setViewportSize(DESKTOP);
    await screenshot('history-desktop');
    await page.setViewportSize(PHONE);
  });

  test('a request left unapproved expires, and the page says so', async () => {
    await go('inbox');
    ids.fourth = await prepareNative('40000000000000000', 'Short-lived request', { approval_ttl: APPROVAL_TTL });
    const fourth = card(page, ids.fourth);
    await fourth.waitFor();
    await byTestId(fourth, 'tx-expiry').filter({ hasText: 'Approve within' }).waitFor();

    // A server (or anything in between) that shows one recipient but asks for a
    // signature on another digest is caught by the page's own digest check.
    const evil = randomAddress();
    await page.route(
      (url) => url.pathname.startsWith('/api/transactions'),
      async (route) => {
        const response = await route.fetch();
        const json = (await response.json()) as { transactions?: Array<Record<string, unknown>> } & Record<string, unknown>;
        const tamper = (tx: Record<string, unknown>) => (tx.transaction_id === ids.fourth ? { ...tx, to: evil, summary: { ...(tx.summary as object), recipient: evil } } : tx);
        const body = Array.isArray(json.transactions) ? { ...json, transactions: json.transactions.map(tamper) } : tamper(json);
        await route.fulfill({ response, json: body });
      },
    );
    await go('history');
    await go('inbox');
    await byTestId(card(page, ids.fourth), 'tx-digest-mismatch').waitFor();
    assert.ok(await byTestId(card(page, ids.fourth), 'tx-select').isDisabled(), 'a request whose digest does not match cannot be selected');
    await screenshot('digest-mismatch');
    await page.unrouteAll();
    await go('history');
    await go('inbox');
    await byTestId(card(page, ids.fourth), 'tx-digest-ok').waitFor();
    await page.locator(`[data-testid="tx-card"][data-transaction-id="${ids.fourth}"][data-status="expired"]`).waitFor({ timeout: (APPROVAL_TTL + 60) * 1000 });
    await byTestId(fourth, 'tx-final-note').filter({ hasText: 'expired' }).waitFor();
    assert.equal(await byTestId(fourth, 'tx-select').count(), 0, 'an expired request cannot be selected');
    const { json } = await agentCall<{ status?: string }>(apiKey, 'GET', `/api/transaction_status?transaction_id=${ids.fourth}`);
    assert.equal(json.status, 'expired');
    await screenshot('expired');
  });

  test('the session survives a reload (cookie) and ends at logout', async () => {
    await page.reload();
    await byTestId(page, 'nav-inbox').waitFor();
    await byTestId(page, 'logout').click();
    await byTestId(page, 'login-username').waitFor();
    await page.reload();
    await byTestId(page, 'login-username').waitFor();
    assert.equal(await byTestId(page, 'nav-inbox').count(), 0, 'logged out after reload too');
    await byTestId(page, 'login-username').fill(username);
    await byTestId(page, 'login-password').fill(password);
    await byTestId(page, 'login-submit').click();
    await byTestId(page, 'nav-inbox').waitFor();
    await screenshot('logged-in-again');
  });

  /** Another device signing in through the API; its token is checked from here. */
  async function otherDevice(pass: string, userAgent: string): Promise<string> {
    const response = await fetch(`${API_URL}/api/login`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'User-Agent': userAgent }, body: JSON.stringify({ username, password: pass }) });
    assert.equal(response.status, 200, `login from ${userAgent}`);
    return ((await response.json()) as { access_token: string }).access_token;
  }
  const stillSignedIn = async (token: string) => (await fetch(`${API_URL}/api/sessions`, { headers: { Authorization: `Bearer ${token}` } })).status === 200;

  test('Security at phone width: sessions are listed, another one is signed out, the password is changed (other sessions end)', async () => {
    const tablet = await otherDevice(password, 'E2E tablet/1.0');
    await go('security');
    const rows = byTestId(page, 'session-row');
    await page.locator('[data-testid="session-row"]', { hasText: 'E2E tablet/1.0' }).waitFor();
    assert.ok((await rows.count()) >= 2);
    assert.equal(await page.locator('[data-testid="session-row"][data-current="true"]').count(), 1, 'this session is marked');
    const overflow = await page.evaluate(() => {
      const root = (globalThis as unknown as PageGlobals).document.documentElement;
      return root.scrollWidth - root.clientWidth;
    });
    assert.ok(overflow <= 0, `the Security screen scrolls sideways on a phone by ${overflow}px`);
    await screenshot('security-sessions');

    await byTestId(page.locator('[data-testid="session-row"]', { hasText: 'E2E tablet/1.0' }), 'session-sign-out').click();
    await page.locator('[data-testid="session-row"]', { hasText: 'E2E tablet/1.0' }).waitFor({ state: 'detached' });
    assert.equal(await stillSignedIn(tablet), false, 'the signed-out session is refused');

    const laptop = await otherDevice(password, 'E2E laptop/2.0');
    const newPassword = `battery staple ${randomBytes(8).toString('hex')}`;
    await byTestId(page, 'password-current').fill(password);
    await byTestId(page, 'password-new').fill(newPassword);
    await byTestId(page, 'password-repeat').fill(newPassword);
    await byTestId(page, 'password-code').fill(await authenticator.fresh());
    await byTestId(page, 'password-submit').click();
    await byTestId(page, 'password-changed').waitFor();
    assert.equal(await stillSignedIn(laptop), false, 'the other session ended with the password change');
    await page.locator('[data-testid="session-row"]', { hasText: 'E2E laptop/2.0' }).waitFor({ state: 'detached' });
    password = newPassword;
    await screenshot('security-password-changed');
    await go('inbox');
    await byTestId(page, 'inbox-count').waitFor();
  });

  test('sign out everywhere from a cookie session (after a reload): back at the login, every session ended', async () => {
    const phone = await otherDevice(password, 'E2E phone/3.0');
    await page.reload(); // the token in memory is gone: the cookie session writes with its CSRF token
    await byTestId(page, 'nav-security').waitFor();
    await go('security');
    await byTestId(page, 'sessions-sign-out-all').click();
    await byTestId(page, 'sessions-sign-out-all-confirm').click();
    await byTestId(page, 'login-username').waitFor();
    await byTestId(page, 'session-notice').filter({ hasText: 'signed out everywhere' }).waitFor();
    assert.equal(await stillSignedIn(phone), false);
    await page.reload();
    await byTestId(page, 'login-username').waitFor();
    await byTestId(page, 'login-username').fill(username);
    await byTestId(page, 'login-password').fill(password);
    await byTestId(page, 'login-submit').click();
    await byTestId(page, 'nav-inbox').waitFor();
  });

  test('no errors in the browser console', () => {
    assert.deepEqual(consoleProblems, []);
  });
});
