import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { SignJWT } from 'jose';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { codes, gql, bearer, TEST_PLAYER_TOKEN_SECRET } from '@coinslot/testing';
import { contractOperation } from '../support/contract';
import { startStack, type Stack } from '../support/stack';
import { createPayment, offers, unique, type Offers } from '../support/payments';
import { signCashDeskToken } from '../../subgraphs/billing/src/domain/cash-desk';

// Test data read from GraphQL answers: shapes are asserted, not typed.
type Data = Record<string, any>;

/**
 * The cash desk end to end: a CARD payment created without a card token by the demo portal
 * (contract CreatePayment) redirects to the gateway's cash desk page; the player pays there
 * with a simulator test card and sees the outcome pushed live over graphql-ws. The browser part
 * runs in a real headless Chromium (playwright-core) whenever one is installed; without one the
 * same flow is checked over plain HTTP and graphql-ws, and the test says the browser did not run.
 */

const ARTIFACTS = path.join(__dirname, '..', '..', 'test-artifacts');
const KEY = new TextEncoder().encode(TEST_PLAYER_TOKEN_SECRET);
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function findChromium(): string | null {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => !!p && fs.existsSync(p)) ?? null;
}

/** Spaces as ICU writes them in fr-FR (U+202F, U+00A0) read as plain spaces. */
const plain = (s: string | null | undefined) => (s ?? '').replace(/[\s\u00a0\u202f]+/g, ' ').trim();

interface Desk {
  payment: Data;
  playerId: string;
  orderRef: string;
  /** The REDIRECT url as billing minted it. */
  minted: string;
  /** The same page on this stack's gateway (billing's PUBLIC_BASE_URL is the default localhost:4000). */
  url: string;
  token: string;
}

describe('cash desk (gateway page for CARD payments without a card token)', () => {
  let stack: Stack;
  let origin: string;
  let prices: Offers;
  let context: BrowserContext | null = null;
  let userDataDir: string | null = null;
  const chromiumPath = findChromium();
  const requested: string[] = [];
  const cspViolations: string[] = [];

  beforeAll(async () => {
    stack = await startStack();
    origin = new URL(stack.gatewayUrl).origin;
    prices = await offers(stack, 'FR');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    if (chromiumPath) {
      userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coinslot-cash-desk-chromium-'));
      context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: chromiumPath,
        headless: true,
        args: CHROMIUM_FLAGS,
        // The browser speaks English: the page must still be in the player's language.
        locale: 'en-US',
        viewport: { width: 520, height: 720 },
      });
      context.on('request', (r) => requested.push(r.url()));
      context.on('console', (msg) => {
        if (/Content Security Policy|Trusted Type/i.test(msg.text()))
          cspViolations.push(msg.text());
      });
    } else {
      console.warn(
        'Chromium not found (CHROMIUM_PATH, /usr/bin/chromium, /usr/bin/chromium-browser): browser test did not run',
      );
    }
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
    await stack?.close();
  });

  async function newDesk(input: { locale?: string; orderRef?: string } = {}): Promise<Desk> {
    const reg = await stack.call(
      contractOperation('RegisterPlayer'),
      {
        input: {
          externalRef: unique('desk-player'),
          country: 'FR',
          locale: input.locale ?? 'fr-FR',
        },
      },
      stack.demo.portalApiKey,
    );
    if (!reg.data) throw new Error(JSON.stringify(reg.errors));
    const playerId = reg.data.registerPlayer.player.id as string;
    const orderRef = input.orderRef ?? unique('order');
    const r = await createPayment(stack, { playerId, priceId: prices.coins100.CARD, orderRef });
    if (!r.data) throw new Error(JSON.stringify(r.errors));
    const payment = r.data.createPayment.payment as Data;
    expect(payment).toMatchObject({
      status: 'REQUIRES_ACTION',
      nextAction: { kind: 'REDIRECT' },
      amount: { amountMinor: '199', currency: 'EUR' },
    });
    const minted = new URL(payment.nextAction.url as string);
    expect(minted.pathname).toBe(`/cash-desk/${payment.id}`);
    const token = minted.searchParams.get('t')!;
    return {
      payment,
      playerId,
      orderRef,
      minted: minted.toString(),
      url: `${origin}${minted.pathname}${minted.search}`,
      token,
    };
  }

  const pageUrl = (paymentId: string, token?: string) =>
    `${origin}/cash-desk/${paymentId}${token === undefined ? '' : `?t=${encodeURIComponent(token)}`}`;

  async function pay(paymentId: string, body: Record<string, unknown>) {
    const res = await fetch(`${origin}/cash-desk/${paymentId}/pay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Data };
  }

  /** graphql-ws with the cash-desk token as the connection's authorization, as the page does. */
  function follow(token: string, paymentId: string) {
    const client = createClient({
      url: stack.gatewayUrl.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
    });
    const seen: Data[] = [];
    const errors: unknown[] = [];
    const done = new Promise<void>((resolve) => {
      client.subscribe(
        {
          query:
            'subscription($id: ID!) { paymentStatusChanged(paymentId: $id) { id status failureCode nextAction { kind url } } }',
          variables: { id: paymentId },
        },
        {
          next: (msg) => {
            if (msg.errors) errors.push(...msg.errors);
            if (msg.data) seen.push(msg.data.paymentStatusChanged as Data);
          },
          error: (err) => {
            errors.push(err);
            resolve();
          },
          complete: () => resolve(),
        },
      );
    });
    /** Resolves with the first final status seen (the server need not complete the subscription). */
    const final = async (timeoutMs = 20_000): Promise<Data> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const last = seen.at(-1);
        if (last && ['SUCCEEDED', 'FAILED', 'CANCELED'].includes(last.status)) return last;
        if (errors.length) throw new Error(JSON.stringify(errors));
        if (Date.now() > deadline) throw new Error(`no final status; seen ${JSON.stringify(seen)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    return { seen, errors, done, final, dispose: () => client.dispose() };
  }

  const expiredToken = (desk: Desk) =>
    new SignJWT({ typ: 'cash-desk', mid: stack.demo.merchantId, pid: desk.playerId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(desk.payment.id)
      .setIssuer('coinslot-billing')
      .setAudience('coinslot-cash-desk')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 1000)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 100)
      .sign(KEY);

  describe('the page over HTTP', () => {
    it("shows the order and the amount in the player's language, escaped, under a strict CSP, loading nothing from elsewhere", async () => {
      const desk = await newDesk({
        orderRef: `<img src=x onerror="alert(1)">&'</script>${unique('o')}`,
      });
      const res = await fetch(desk.url, { headers: { 'accept-language': 'en-US,en;q=0.9' } });
      expect(res.status).toBe(200);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      const html = await res.text();
      expect(html).toContain('<html lang="fr">');
      expect(html).toContain('Caisse');
      expect(plain(/<dd id="amount">([^<]*)<\/dd>/.exec(html)?.[1])).toBe('1,99 €');
      // The order reference is text, never markup, in the page and in its script data.
      expect(html).not.toContain('<img src=x');
      expect(html).toContain(
        '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;&lt;/script&gt;',
      );
      expect(html.match(/<\/script>/g)).toHaveLength(2);
      // Self-contained: every src/href is this origin's.
      for (const [, ref] of html.matchAll(/(?:src|href|action)="([^"]*)"/g))
        expect(ref!.startsWith('/') || ref === '#').toBe(true);
      for (const asset of ['/cash-desk/assets/cash-desk.js', '/cash-desk/assets/cash-desk.css']) {
        const a = await fetch(`${origin}${asset}`);
        expect(a.status).toBe(200);
        expect(await a.text()).not.toMatch(/https?:\/\/(?!127\.0\.0\.1|localhost)/);
      }
    });

    it('falls back to English for a player language it does not speak, and formats with the locale', async () => {
      const desk = await newDesk({ locale: 'es-ES' });
      const html = await (await fetch(desk.url)).text();
      expect(html).toContain('<html lang="en">');
      expect(html).toContain('Cash desk');
      expect(plain(/<dd id="amount">([^<]*)<\/dd>/.exec(html)?.[1])).toBe('1,99 €');
      const de = await newDesk({ locale: 'de-DE' });
      const deHtml = await (await fetch(de.url)).text();
      expect(deHtml).toContain('<html lang="de">');
      expect(deHtml).toContain('Kasse');
      expect(plain(/<dd id="amount">([^<]*)<\/dd>/.exec(deHtml)?.[1])).toBe('1,99 €');
    });

    it('accepts the link exactly as billing mints it (same claims, same key)', async () => {
      const desk = await newDesk();
      const token = signCashDeskToken(
        KEY,
        { id: desk.payment.id, merchantId: stack.demo.merchantId, playerId: desk.playerId },
        60,
      );
      expect((await fetch(pageUrl(desk.payment.id, token))).status).toBe(200);
    });

    it('refuses a missing, forged, expired or other-payment link with 401/403 and shows nothing of the payment', async () => {
      const desk = await newDesk();
      const other = await newDesk();
      const forged = await new SignJWT({
        typ: 'cash-desk',
        mid: stack.demo.merchantId,
        pid: desk.playerId,
      })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(desk.payment.id)
        .setIssuer('coinslot-billing')
        .setAudience('coinslot-cash-desk')
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode('not-the-secret-0123456789abcdefghijklmnop'));
      const playerToken = (
        await stack.call(
          contractOperation('IssuePlayerToken'),
          { playerId: desk.playerId },
          stack.demo.portalApiKey,
        )
      ).data!.issuePlayerToken.token as string;
      const cases: [string, string, number][] = [
        ['missing', pageUrl(desk.payment.id), 401],
        ['garbage', pageUrl(desk.payment.id, 'not-a-token'), 401],
        ['forged', pageUrl(desk.payment.id, forged), 401],
        ['expired', pageUrl(desk.payment.id, await expiredToken(desk)), 401],
        ['a player token', pageUrl(desk.payment.id, playerToken), 401],
        ['another payment', pageUrl(desk.payment.id, other.token), 403],
        ['not a payment id', pageUrl('..%2F..%2Fgraphql', desk.token), 403],
      ];
      for (const [what, url, status] of cases) {
        const res = await fetch(url, { headers: { 'accept-language': 'fr-FR' } });
        expect({ what, status: res.status }).toEqual({ what, status });
        expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
        const html = await res.text();
        for (const secret of [
          desk.orderRef,
          other.orderRef,
          desk.payment.id,
          other.payment.id,
          desk.playerId,
          '1,99',
          '199',
        ]) {
          expect(html).not.toContain(secret);
        }
        expect(html).not.toContain('pay-form');
      }
      const expired = await (
        await fetch(pageUrl(desk.payment.id, await expiredToken(desk)), {
          headers: { 'accept-language': 'fr-FR' },
        })
      ).text();
      expect(expired).toContain('Ce lien de paiement a expiré');
    });

    it('the pay endpoint refuses bad links and bad tokens before anything reaches billing', async () => {
      const desk = await newDesk();
      const other = await newDesk();
      expect((await pay(desk.payment.id, { cardToken: 'tok_ok' })).status).toBe(401);
      expect(
        (await pay(desk.payment.id, { t: await expiredToken(desk), cardToken: 'tok_ok' })).status,
      ).toBe(401);
      expect((await pay(desk.payment.id, { t: other.token, cardToken: 'tok_ok' })).status).toBe(
        403,
      );
      const bad = await pay(desk.payment.id, { t: desk.token, cardToken: '4242 4242 4242 4242' });
      expect(bad).toMatchObject({ status: 400, body: { error: { code: 'BAD_USER_INPUT' } } });
      const unreadable = await fetch(`${origin}/cash-desk/${desk.payment.id}/pay`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"t":',
      });
      expect(unreadable.status).toBe(400);
      // Nothing was charged: both still wait at the cash desk.
      for (const d of [desk, other]) {
        const p = await stack.call(
          contractOperation('Payment'),
          { id: d.payment.id },
          stack.demo.portalApiKey,
        );
        expect(p.data!.payment.status).toBe('REQUIRES_ACTION');
      }
    });

    it('works without script too: the form posts the card and comes back to the page (tok_insufficient)', async () => {
      const desk = await newDesk();
      const res = await fetch(`${origin}/cash-desk/${desk.payment.id}/pay`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
        body: new URLSearchParams({ t: desk.token, cardToken: 'tok_insufficient' }).toString(),
        redirect: 'manual',
      });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe(
        `/cash-desk/${desk.payment.id}?t=${encodeURIComponent(desk.token)}`,
      );
      const html = await (await fetch(`${origin}${res.headers.get('location')}`)).text();
      expect(html).toContain('data-status="FAILED"');
      expect(html).toContain('Le solde de votre carte est insuffisant.');
      // Paid once: the same link cannot charge again.
      const again = await pay(desk.payment.id, { t: desk.token, cardToken: 'tok_ok' });
      expect(again).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
      expect(stack.simulators.controls.card.chargeCount(desk.payment.serialNumber)).toBe(0);
    });

    it('the token is no key to the API, and over graphql-ws it reads its own payment only', async () => {
      const desk = await newDesk();
      // HTTP /graphql: refused outright.
      const r = await gql(
        stack.gatewayUrl,
        contractOperation('Payment'),
        { id: desk.payment.id },
        bearer(desk.token),
      );
      expect(codes(r)).toEqual(['UNAUTHENTICATED']);
      // graphql-ws: another player's payment, and another payment of the same player, are NOT_FOUND.
      const stranger = await newDesk();
      const same = await createPayment(stack, {
        playerId: desk.playerId,
        priceId: prices.coins100.CARD,
      });
      for (const id of [stranger.payment.id, same.data!.createPayment.payment.id as string]) {
        const sub = follow(desk.token, id);
        await sub.done;
        await sub.dispose();
        expect(sub.seen.filter(Boolean)).toEqual([]);
        expect(JSON.stringify(sub.errors)).toContain('NOT_FOUND');
      }
      // An expired token cannot even connect.
      const expired = follow(await expiredToken(desk), desk.payment.id);
      await expired.done;
      await expired.dispose();
      expect(expired.seen).toEqual([]);
      expect(expired.errors.length).toBeGreaterThan(0);
    });
  });

  describe(
    chromiumPath
      ? `in headless Chromium (${chromiumPath})`
      : 'without Chromium (HTTP and graphql-ws only)',
    () => {
      async function openDesk(desk: Desk): Promise<{ page: Page; frames: string[] }> {
        const page = await context!.newPage();
        const frames: string[] = [];
        page.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push(String(f.payload))));
        await page.goto(desk.url);
        await page.locator('#status[data-source="subscription"]').waitFor({ timeout: 15_000 });
        return { page, frames };
      }

      async function payInBrowser(page: Page, card: string) {
        // Same document before and after: the outcome must arrive without a reload.
        await page.evaluate(() => ((globalThis as Record<string, unknown>).__sameDocument = true));
        await page.locator(`input[name="cardToken"][value="${card}"]`).check();
        await page.locator('#pay').click();
      }

      async function outcome(page: Page, status: string) {
        await page.locator(`#status[data-status="${status}"]`).waitFor({ timeout: 20_000 });
        return {
          source: await page.locator('#status').getAttribute('data-source'),
          text: plain(await page.locator('#status-text').textContent()),
          reason: plain(await page.locator('#status-reason').textContent()),
          sameDocument: await page.evaluate(
            () => (globalThis as Record<string, unknown>).__sameDocument === true,
          ),
        };
      }

      /** Without a browser: what the page's script does, over HTTP and graphql-ws. */
      async function payWithoutBrowser(desk: Desk, card: string) {
        const html = await (await fetch(desk.url)).text();
        expect(html).toContain(desk.orderRef);
        expect(plain(/<dd id="amount">([^<]*)<\/dd>/.exec(html)?.[1])).toBe('1,99 €');
        const sub = follow(desk.token, desk.payment.id);
        // Subscribed first (the current status comes first), then paid: the outcome is pushed.
        while (sub.seen.length === 0 && sub.errors.length === 0)
          await new Promise((r) => setTimeout(r, 20));
        const paid = await pay(desk.payment.id, { t: desk.token, cardToken: card });
        expect(paid.status).toBe(200);
        await sub.final();
        await sub.dispose();
        expect(sub.errors).toEqual([]);
        return sub.seen;
      }

      it('pays with tok_ok and sees SUCCEEDED pushed live, in French', async () => {
        const desk = await newDesk();
        if (!context) {
          console.warn(
            'Chromium not found: browser test did not run (checked over HTTP and graphql-ws instead)',
          );
          const seen = await payWithoutBrowser(desk, 'tok_ok');
          expect(seen[0]).toMatchObject({ status: 'REQUIRES_ACTION' });
          expect(seen.at(-1)).toMatchObject({ status: 'SUCCEEDED', failureCode: null });
          return;
        }
        const { page, frames } = await openDesk(desk);
        try {
          expect(await page.locator('html').getAttribute('lang')).toBe('fr');
          expect(await page.locator('#order-ref').textContent()).toBe(desk.orderRef);
          expect(plain(await page.locator('#amount').textContent())).toBe('1,99 €');
          expect(plain(await page.locator('#pay').textContent())).toBe('Payer 1,99 €');
          await page.screenshot({
            path: path.join(ARTIFACTS, 'cash-desk-form.png'),
            fullPage: true,
          });
          await payInBrowser(page, 'tok_ok');
          const seen = await outcome(page, 'SUCCEEDED');
          expect(seen).toMatchObject({
            source: 'subscription',
            text: 'Paiement réussi',
            sameDocument: true,
          });
          expect(
            frames.some((f) => f.includes('"type":"next"') && f.includes('"status":"SUCCEEDED"')),
          ).toBe(true);
          expect(await page.locator('#pay-form').isHidden()).toBe(true);
          await page.screenshot({
            path: path.join(ARTIFACTS, 'cash-desk-succeeded.png'),
            fullPage: true,
          });
        } finally {
          await page.close();
        }
        const p = await stack.call(
          contractOperation('Payment'),
          { id: desk.payment.id },
          stack.demo.portalApiKey,
        );
        expect(p.data!.payment).toMatchObject({ status: 'SUCCEEDED', failureCode: null });
        expect(stack.simulators.controls.card.chargeCount(desk.payment.serialNumber)).toBe(1);
      });

      it('pays with tok_declined and sees FAILED with the reason, in French', async () => {
        const desk = await newDesk();
        if (!context) {
          console.warn(
            'Chromium not found: browser test did not run (checked over HTTP and graphql-ws instead)',
          );
          const seen = await payWithoutBrowser(desk, 'tok_declined');
          expect(seen.at(-1)).toMatchObject({ status: 'FAILED', failureCode: 'DENIED' });
          return;
        }
        const { page } = await openDesk(desk);
        try {
          await payInBrowser(page, 'tok_declined');
          const seen = await outcome(page, 'FAILED');
          expect(seen).toEqual({
            source: 'subscription',
            text: 'Échec du paiement',
            reason: 'Votre banque a refusé le paiement.',
            sameDocument: true,
          });
          await page.screenshot({
            path: path.join(ARTIFACTS, 'cash-desk-failed.png'),
            fullPage: true,
          });
        } finally {
          await page.close();
        }
        expect(stack.simulators.controls.card.chargeCount(desk.payment.serialNumber)).toBe(0);
      });

      it("pays with tok_3ds: follows the PSP's authentication page and comes back to SUCCEEDED", async () => {
        const desk = await newDesk();
        if (!context) {
          console.warn(
            'Chromium not found: browser test did not run (3-D Secure checked with the simulator instead)',
          );
          const paid = await pay(desk.payment.id, { t: desk.token, cardToken: 'tok_3ds' });
          expect(paid).toMatchObject({
            status: 200,
            body: { payment: { status: 'REQUIRES_ACTION', nextAction: { kind: 'REDIRECT' } } },
          });
          expect(paid.body.payment.nextAction.url).not.toContain('/cash-desk/');
          await stack.simulators.controls.card.completeRedirect!(desk.payment.serialNumber);
          const sub = follow(desk.token, desk.payment.id);
          expect(await sub.final()).toMatchObject({ status: 'SUCCEEDED' });
          await sub.dispose();
          return;
        }
        const { page } = await openDesk(desk);
        try {
          await page.locator('input[name="cardToken"][value="tok_3ds"]').check();
          await page.locator('#pay').click();
          await page.waitForURL(/\/3ds\//, { timeout: 15_000 });
          await page.locator('button[value="authenticate"]').click();
          await page.waitForURL((u) => u.pathname === `/cash-desk/${desk.payment.id}`, {
            timeout: 15_000,
          });
          const seen = await outcome(page, 'SUCCEEDED');
          expect(seen.text).toBe('Paiement réussi');
          await page.screenshot({
            path: path.join(ARTIFACTS, 'cash-desk-3ds-succeeded.png'),
            fullPage: true,
          });
        } finally {
          await page.close();
        }
        expect(stack.simulators.controls.card.chargeCount(desk.payment.serialNumber)).toBe(1);
      });

      it('loaded nothing but loopback, and broke no Content-Security-Policy rule', () => {
        if (!context) {
          console.warn('Chromium not found: browser test did not run');
          return;
        }
        expect(requested.length).toBeGreaterThan(0);
        for (const url of requested)
          expect(['127.0.0.1', 'localhost']).toContain(new URL(url).hostname);
        expect(cspViolations).toEqual([]);
      });
    },
  );
});
