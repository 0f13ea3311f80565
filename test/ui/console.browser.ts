/**
 * The web console in a real headless Chromium (Debian's `chromium`, driven by playwright-core; issue
 * 15; docs/console.md): unseal status while holders submit, key creation and detail, an encrypt made
 * through the API found by its request id in the console's audit screen, an inclusion proof of that
 * record verified in the browser (and refused when a proof hash is flipped in transit), a policy
 * pushed from a file and activated on a key, which two operators approve in two other browser
 * contexts before the requester executes it, a dry-run evaluation, and a bundle download.
 *
 * Not part of `npm test` (it needs a browser and takes ~20 s): `npm run test:ui`, run by .ci/run.
 * The browser is /usr/bin/chromium (KEYWARD_CHROMIUM overrides it); the console must be built
 * (`npm run build`, or `npm run build:ui`). Screenshots go to test-results/ui/ (KEYWARD_UI_SHOTS
 * overrides it), whose path the test prints.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { toPublicKeyFile } from '../../ceremony/index.js';
import type { HolderKey, ShardFile } from '../../ceremony/index.js';
import { packageRoot } from '../../engine/policy/toolchain/paths.js';
import { defaultUiDir } from '../../server/ui.js';
import { makeHolders, submissionFor } from '../helpers/ceremony.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

const CHROMIUM = process.env.KEYWARD_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = resolve(process.env.KEYWARD_UI_SHOTS ?? join(packageRoot(), 'test-results', 'ui'));
const VIEWPORT = { width: 1280, height: 800 };
/** How long one expectation waits for the page (the status screen polls every 2 s). */
const WAIT = 15_000;

/** Polls `check` until it returns a truthy value (or throws its last error after `ms`). */
async function until<T>(check: () => Promise<T>, ms = WAIT): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    let last: unknown;
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw last ?? new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the web console in Chromium', { timeout: 180_000 }, () => {
  let s: TestServer;
  let browser: Browser;
  let holders: HolderKey[];
  let shards: ShardFile[];
  let root: string;
  let app: string;
  const operators: string[] = [];
  const contexts: BrowserContext[] = [];
  /** Content-Security-Policy violations and page errors, per page: none are expected. */
  const problems: string[] = [];
  let admin: Page;
  let encryptRecord: number;

  async function newPage(): Promise<Page> {
    const ctx = await browser.newContext({ viewport: VIEWPORT, acceptDownloads: true });
    contexts.push(ctx);
    // Reported by the page itself (an init script runs outside the page's CSP).
    await ctx.addInitScript({
      content:
        "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));",
    });
    const page = await ctx.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    return page;
  }

  async function shot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  }

  async function signIn(page: Page, token: string): Promise<void> {
    await page.goto(`${s.url}/ui/`);
    // By keyboard: the field is reached by its label, Enter submits.
    await page.getByLabel('API token').fill(token);
    await page.getByLabel('API token').press('Enter');
    await page.getByTestId('whoami').filter({ hasText: '(' }).waitFor({ timeout: WAIT });
  }

  async function go(page: Page, link: string): Promise<void> {
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: link }).click();
    await page.getByRole('heading', { level: 1 }).first().waitFor();
  }

  before(async () => {
    assert.ok(
      existsSync(join(defaultUiDir(), 'index.html')),
      `the console is not built (${defaultUiDir()}): run npm run build:ui`,
    );
    assert.ok(
      existsSync(CHROMIUM),
      `no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set KEYWARD_CHROMIUM)`,
    );
    await mkdir(SHOTS, { recursive: true });
    console.log(`screenshots: ${SHOTS}`);
    s = await startTestServer();
    holders = await makeHolders(['alice', 'bob', 'carol']);
    const init = await s.call('POST', '/v1/sys/init', {
      body: { holders: holders.map((h) => toPublicKeyFile(h)), threshold: 2 },
    });
    assert.equal(init.status, 200, JSON.stringify(init.body));
    shards = init.body.shards;
    root = init.body.rootToken;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Chromium's sandbox refuses to start as root (CI runs as root).
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    });
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await s?.close();
  });

  it('status: sealed, the unseal progress naming who submitted, then unsealed', async () => {
    admin = await newPage();
    await admin.goto(`${s.url}/ui/`);
    await until(async () => (await admin.getByTestId('seal-state').textContent()) === 'Sealed');
    assert.match((await admin.getByTestId('unseal-progress').textContent()) ?? '', /0 of 2 shards/);
    // Carol submits her shard, as her CLI would.
    const st = (await s.call('GET', '/v1/sys/seal-status')).body;
    const r1 = await s.call('POST', '/v1/sys/unseal', { body: await submissionFor(holders[2]!, shards[2]!, st) });
    assert.equal(r1.status, 200, JSON.stringify(r1.body));
    await until(async () => /1 of 2 shards/.test((await admin.getByTestId('unseal-progress').textContent()) ?? ''));
    assert.match((await admin.getByTestId('holder-carol').textContent()) ?? '', /submitted/);
    assert.match((await admin.getByTestId('holder-alice').textContent()) ?? '', /waiting/);
    assert.equal(await admin.getByTestId('node').textContent(), s.hsm.node);
    await shot(admin, '01-status-unsealing');
    const r2 = await s.call('POST', '/v1/sys/unseal', { body: await submissionFor(holders[0]!, shards[0]!, st) });
    assert.equal(r2.body.sealed, false);
    await until(async () => (await admin.getByTestId('seal-state').textContent()) === 'Unsealed');
    await shot(admin, '02-status-unsealed');

    // Tokens the rest of the test uses: two operators, one application.
    for (const [principal, roles] of [
      ['op-ana', ['operator']],
      ['op-ben', ['operator']],
      ['svc-orders', ['app']],
    ] as const) {
      const t = await s.call('POST', '/v1/auth/tokens', { token: root, body: { principal, roles } });
      assert.equal(t.status, 201, JSON.stringify(t.body));
      if (roles[0] === 'operator') operators.push(t.body.token);
      else app = t.body.token;
    }
  });

  it('signs in once; the token lives in sessionStorage only', async () => {
    await signIn(admin, root);
    assert.equal(await admin.getByTestId('whoami').textContent(), 'root (admin)');
    const storage: unknown = await admin.evaluate(
      "({ session: sessionStorage.getItem('keyward.token'), local: localStorage.length, cookie: document.cookie })",
    );
    assert.deepEqual(storage, { session: root, local: 0, cookie: '' });
    // Reloading keeps the session; the token is not asked again.
    await admin.reload();
    await admin.getByTestId('whoami').filter({ hasText: 'root (admin)' }).waitFor({ timeout: WAIT });
    assert.equal(await admin.getByLabel('API token').count(), 0);
  });

  it('keys: creates one from the form, lists, searches and shows its detail', async () => {
    await go(admin, 'Keys');
    await admin.getByLabel('Name', { exact: true }).fill('orders');
    await admin.getByLabel('Labels').fill('team=payments');
    await admin.getByRole('button', { name: 'Create key' }).click();
    await admin.getByRole('status').filter({ hasText: 'Created key orders' }).waitFor({ timeout: WAIT });
    await admin.getByLabel('Name', { exact: true }).fill('signer');
    await admin.getByLabel('Type').selectOption('ed25519');
    await admin.getByLabel('Labels').fill('');
    await admin.getByRole('button', { name: 'Create key' }).click();
    await admin.getByRole('status').filter({ hasText: 'Created key signer' }).waitFor({ timeout: WAIT });
    await admin.getByTestId('key-signer').waitFor();
    // The server has them, as the console said.
    const k = await s.call('GET', '/v1/keys/orders', { token: root });
    assert.equal(k.body.type, 'aes256-gcm');
    assert.deepEqual(k.body.labels, { team: 'payments' });
    await admin.getByLabel('Search').fill('payments');
    await until(async () => (await admin.getByTestId('key-signer').count()) === 0);
    assert.equal(await admin.getByTestId('key-orders').count(), 1);
    await shot(admin, '03-keys');
    await admin.getByLabel('Search').fill('');
    await admin.getByRole('button', { name: 'Rotate orders' }).click();
    await admin.getByRole('status').filter({ hasText: 'Rotated orders: version 2' }).waitFor({ timeout: WAIT });
    await admin.getByRole('link', { name: 'signer' }).click();
    await admin.getByRole('heading', { name: 'Key signer' }).waitFor();
    // The version's public key as the API gives it (base64 SPKI), the same key as the PEM export.
    const shownKey = await admin.getByTestId('public-key-1').textContent();
    const pub = await s.call('GET', '/v1/keys/signer/public?format=pem', { token: root });
    assert.equal(shownKey?.trim(), pub.body.publicKey.replace(/-----[A-Z ]+-----|\s/g, ''));
    await shot(admin, '04-key-detail');
  });

  it('audit: finds the record of an encrypt made through the API and proves it in the browser', async () => {
    const enc = await s.call('POST', '/v1/keys/orders/encrypt', {
      token: app,
      body: { plaintext: Buffer.from('order #1').toString('base64') },
    });
    assert.equal(enc.status, 200, JSON.stringify(enc.body));
    const requestId = enc.headers.get('x-request-id')!;
    assert.ok(requestId);
    await go(admin, 'Audit');
    await admin.getByLabel('Filter').fill(requestId);
    const row = admin.locator('[data-testid^="record-"]');
    await until(async () => (await row.count()) === 1);
    const text = (await row.textContent()) ?? '';
    assert.match(text, /encrypt/);
    assert.match(text, /orders v2/);
    assert.match(text, /allow/);
    encryptRecord = Number((await row.getAttribute('data-testid'))!.slice('record-'.length));
    // The record is that request's, as the server holds it.
    const page = await s.call('GET', `/v1/audit/records?from=${encryptRecord}&limit=1`, { token: root });
    const leaf = JSON.parse(page.body.records[0].leaf);
    assert.equal(leaf.requestId, requestId);
    assert.equal(leaf.operation, 'encrypt');

    // The proof needs a checkpoint that covers the record (the integrator signs one within ~1 s).
    await until(async () => (await s.call('GET', '/v1/audit/checkpoint', { token: root })).body.size > encryptRecord);
    await admin.getByRole('button', { name: "Pin the server's keys" }).click();
    await until(async () => (await admin.getByLabel(/Verifier keys/).inputValue()).includes('+'));

    // A proof hash flipped in transit: the browser's verifier refuses it.
    await admin.route('**/v1/audit/proofs/inclusion*', async (route) => {
      const res = await route.fetch();
      const json = (await res.json()) as { proof: string[] };
      const first = Buffer.from(json.proof[0]!, 'base64');
      first[0]! ^= 1;
      json.proof[0] = first.toString('base64');
      await route.fulfill({ response: res, json });
    });
    await admin.getByRole('button', { name: `Verify inclusion of record ${encryptRecord}` }).click();
    await admin.getByRole('alert').filter({ hasText: 'AUDIT_PROOF_INVALID' }).waitFor({ timeout: WAIT });
    await admin.unroute('**/v1/audit/proofs/inclusion*');

    await admin.getByRole('button', { name: `Verify inclusion of record ${encryptRecord}` }).click();
    const proof = admin.getByTestId('proof-result');
    await proof.waitFor({ timeout: WAIT });
    const shown = (await proof.textContent()) ?? '';
    assert.match(shown, /Verified in this browser/);
    // The leaf hash it computed is RFC 9162's SHA-256(0x00 ‖ leaf), computed here independently.
    const want = createHash('sha256')
      .update(Buffer.concat([Buffer.from([0]), Buffer.from(page.body.records[0].leaf, 'utf8')]))
      .digest('hex');
    assert.ok(shown.includes(want), `the proof view names leaf hash ${want}: ${shown}`);
    await shot(admin, '05-audit-proof');
  });

  it('policies: pushes a built .wasm, dry-runs an input, and parks its activation for approval', async () => {
    const wasmPath = join(packageRoot(), 'build', 'policies', 'critical-decrypt.wasm');
    const sha = createHash('sha256')
      .update(await readFile(wasmPath))
      .digest('hex');
    await go(admin, 'Policies');
    await admin
      .getByTestId('active-set')
      .filter({ hasText: /[0-9a-f]{64}/ })
      .waitFor({ timeout: WAIT });
    await admin.getByLabel('Policy file (.wasm)').setInputFiles(wasmPath);
    await admin.getByText(`computed here: ${sha}`).waitFor();
    await admin.getByRole('button', { name: 'Push policy' }).click();
    await admin.getByRole('status').filter({ hasText: sha }).waitFor({ timeout: WAIT });
    await admin.getByTestId('policy-critical-decrypt').waitFor();

    await admin.getByRole('button', { name: 'Evaluate' }).click();
    assert.equal(await admin.getByTestId('eval-decision').textContent({ timeout: WAIT }), 'allow');

    await admin.getByLabel('Activate on key (empty: globally)').fill('orders');
    await admin.getByRole('button', { name: 'Activate critical-decrypt' }).click();
    await admin.getByRole('status').filter({ hasText: 'Activation parked for approval' }).waitFor({ timeout: WAIT });
    await shot(admin, '06-policies');
  });

  it('approvals: two operators approve in their own browsers; the requester executes', async () => {
    const pending = await s.call('GET', '/v1/approvals?state=pending', { token: root });
    const approval = pending.body.approvals.find((a: { operation: string }) => a.operation === 'policy.activate');
    assert.ok(approval, JSON.stringify(pending.body));
    const id = approval.id as string;

    for (const [i, token] of operators.entries()) {
      const op = await newPage();
      await signIn(op, token);
      await go(op, 'Approvals');
      const row = op.getByTestId('inbox').getByTestId(`approval-${id}`);
      await row.waitFor({ timeout: WAIT });
      assert.match((await row.getByTestId('approval-count').textContent()) ?? '', new RegExp(`^${i} of 2$`));
      if (i === 1) await shot(op, '07-approvals-operator');
      await row.getByRole('button', { name: `Approve ${id}` }).click();
      await op
        .getByRole('status')
        .filter({ hasText: `Approved ${id}: ${i + 1} of 2` })
        .waitFor({ timeout: WAIT });
      // Approved: it leaves this operator's inbox.
      await until(async () => (await op.getByTestId('inbox').getByTestId(`approval-${id}`).count()) === 0);
    }

    await go(admin, 'Approvals');
    const mine = admin.getByTestId('mine').getByTestId(`approval-${id}`);
    await mine.waitFor({ timeout: WAIT });
    assert.equal(await admin.getByTestId('inbox').getByTestId(`approval-${id}`).count(), 0, 'not my own to approve');
    await mine.getByRole('button', { name: `Execute ${id}` }).click();
    const result = admin.getByTestId('execute-result');
    await result.waitFor({ timeout: WAIT });
    const out = JSON.parse((await result.textContent()) ?? '{}');
    assert.equal(out.active, true);
    assert.equal(out.key, 'orders');
    await shot(admin, '08-approvals-executed');
    const list = await s.call('GET', '/v1/policies', { token: root });
    const p = list.body.policies.find((x: { name: string }) => x.name === 'critical-decrypt');
    assert.deepEqual(
      p.bindings.map((b: { scope: string; key: string }) => `${b.scope}:${b.key}`),
      ['key:orders'],
    );
  });

  it('audit: downloads an attestation bundle', async () => {
    await go(admin, 'Audit');
    const [download] = await Promise.all([
      admin.waitForEvent('download', { timeout: WAIT }),
      admin.getByRole('button', { name: 'Download bundle' }).click(),
    ]);
    const file = await download.path();
    const bundle = JSON.parse(await readFile(file, 'utf8'));
    assert.equal(bundle.format, 'keyward.audit.attestation/v1');
    assert.ok(bundle.records.length > encryptRecord);
    assert.match(download.suggestedFilename(), /^keyward-audit-0-\d+\.json$/);
  });

  it('every form control of every screen has a label', async () => {
    for (const screen of ['Status', 'Keys', 'Policies', 'Approvals', 'Audit']) {
      await go(admin, screen);
      await admin.waitForLoadState('networkidle');
      const unlabeled: unknown = await admin.evaluate(
        `[...document.querySelectorAll('input, select, textarea, button')]
          .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !(el.textContent || '').trim())
          .map((el) => el.outerHTML.slice(0, 120))`,
      );
      assert.deepEqual(unlabeled, [], screen);
    }
  });

  it('a new browser session starts signed out; nothing broke the CSP', async () => {
    const fresh = await newPage();
    await fresh.goto(`${s.url}/ui/keys`);
    await fresh.getByLabel('API token').waitFor();
    assert.equal(await fresh.getByTestId('whoami').count(), 0);
    assert.deepEqual(problems, []);
  });
});
