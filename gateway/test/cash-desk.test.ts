import { SignJWT } from 'jose';
import { parse } from 'graphql';
import type { Principal } from '@coinslot/kernel';
import { formatAmount, usableLocale } from '../src/cash-desk/format';
import {
  acceptedLanguages,
  failureReason,
  FAILURE_CODES,
  LANGUAGES,
  MESSAGES,
  pickLanguage,
} from '../src/cash-desk/i18n';
import {
  escapeHtml,
  isCashDeskAction,
  jsonForScript,
  renderCashDesk,
  renderError,
  safeHttpUrl,
} from '../src/cash-desk/page';
import { cashDeskMayRead } from '../src/cash-desk/scope';
import { cashDeskPrincipal, cashDeskScope, verifyCashDeskToken } from '../src/cash-desk/token';

/** ICU's spaces (U+202F in fr, U+00A0 before €) as plain spaces, for readable expectations. */
const plain = (s: string) => s.replace(/[\u00a0\u202f]/g, ' ');

describe('cash desk: amounts', () => {
  it.each([
    ['199', 'EUR', 'fr-FR', '1,99 €'],
    ['199', 'EUR', 'de-DE', '1,99 €'],
    ['123456', 'EUR', 'de-DE', '1.234,56 €'],
    ['199', 'USD', 'en-US', '$1.99'],
    ['5', 'GBP', 'en-GB', '£0.05'],
    ['0', 'EUR', 'fr-FR', '0,00 €'],
    // Exponent 0 and 3 from the kernel's ISO 4217 table.
    ['1234', 'JPY', 'en-US', '¥1,234'],
    ['1234', 'KWD', 'en-US', 'KWD 1.234'],
    // ICU says IQD has no minor unit; ISO 4217 (and so Coinslot) says 3.
    ['1500', 'IQD', 'en-US', 'IQD 1.500'],
    // A merchant's virtual currency: an integer and its code.
    ['1500', 'GEMS', 'fr-FR', '1 500 GEMS'],
    ['1500', 'GEMS', 'en-US', '1,500 GEMS'],
  ])('%s %s in %s → %s', (minor, currency, locale, expected) => {
    expect(plain(formatAmount(minor, currency, locale))).toBe(expected);
  });

  it('is exact far beyond a double (string and bigint arithmetic, never a float)', () => {
    expect(formatAmount('123456789012345678901', 'EUR', 'en-US')).toBe(
      '€1,234,567,890,123,456,789.01',
    );
    expect(plain(formatAmount('900719925474099301', 'EUR', 'fr-FR'))).toBe(
      '9 007 199 254 740 993,01 €',
    );
    expect(formatAmount('-250', 'USD', 'en-US')).toBe('-$2.50');
  });

  it('falls back to en for a locale the runtime cannot use, and refuses non-integer amounts and unknown currencies', () => {
    expect(usableLocale('not a locale!')).toBe('en');
    expect(usableLocale(null)).toBe('en');
    expect(usableLocale('fr-FR')).toBe('fr-FR');
    expect(formatAmount('199', 'EUR', '%%%')).toBe('€1.99');
    expect(() => formatAmount('1.99', 'EUR', 'en')).toThrow(RangeError);
    expect(() => formatAmount('1e3', 'EUR', 'en')).toThrow(RangeError);
    expect(() => formatAmount('199', 'XYZ', 'en')).toThrow(RangeError);
  });
});

describe('cash desk: languages', () => {
  it("picks the player's language among en, fr, de; English otherwise", () => {
    expect(pickLanguage('fr-FR')).toBe('fr');
    expect(pickLanguage('de_AT')).toBe('de');
    expect(pickLanguage('EN-gb')).toBe('en');
    expect(pickLanguage('es-ES')).toBe('en');
    expect(pickLanguage(null, undefined, 'de')).toBe('de');
    expect(pickLanguage()).toBe('en');
  });

  it('reads Accept-Language by preference, dropping q=0 and junk', () => {
    expect(acceptedLanguages('de;q=0.5, fr-CH, en;q=0.8, *;q=0.1')).toEqual(['fr-CH', 'en', 'de']);
    expect(acceptedLanguages('fr;q=0, <script>, de')).toEqual(['de']);
    expect(acceptedLanguages(undefined)).toEqual([]);
  });

  it('has every text in every language, and a reason for every failure code', () => {
    const keys = (o: object): string[] =>
      Object.entries(o).flatMap(([k, v]) =>
        v && typeof v === 'object' ? keys(v).map((s) => `${k}.${s}`) : [k],
      );
    for (const lang of LANGUAGES)
      expect(keys(MESSAGES[lang]).sort()).toEqual(keys(MESSAGES.en).sort());
    for (const code of FAILURE_CODES)
      expect(failureReason(MESSAGES.fr, code)).not.toBe(MESSAGES.fr.reasons.OTHER);
    expect(failureReason(MESSAGES.de, 'DENIED')).toBe('Ihre Bank hat die Zahlung abgelehnt.');
    expect(failureReason(MESSAGES.en, 'SOMETHING_NEW')).toBe('The payment could not be completed.');
    expect(failureReason(MESSAGES.en, null)).toBe('The payment could not be completed.');
  });
});

describe('cash desk: tokens', () => {
  const key = new TextEncoder().encode('test-player-token-secret-0123456789abcdef');
  const paymentId = '01930000-0000-7000-8000-000000000001';
  const now = Math.floor(Date.now() / 1000);
  const mint = (
    claims: Record<string, unknown> = {},
    opts: { key?: Uint8Array; exp?: number; alg?: string } = {},
  ) =>
    new SignJWT({
      typ: 'cash-desk',
      sub: paymentId,
      mid: 'm-1',
      pid: 'p-1',
      iss: 'coinslot-billing',
      aud: 'coinslot-cash-desk',
      iat: now,
      exp: opts.exp ?? now + 900,
      ...claims,
    })
      .setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT' })
      .sign(opts.key ?? key);

  it('accepts a token billing minted for this payment', async () => {
    const verdict = await verifyCashDeskToken(key, await mint(), paymentId);
    expect(verdict).toEqual({
      ok: true,
      grant: { paymentId, playerId: 'p-1', merchantId: 'm-1', expiresAt: now + 900 },
    });
  });

  it('tells expired, forged, foreign and other-payment tokens apart', async () => {
    const other = new TextEncoder().encode('another-secret-0123456789abcdefghijklmnop');
    const cases: [string, unknown, string][] = [
      ['missing', undefined, 'missing'],
      ['empty', '', 'missing'],
      ['an array (?t=a&t=b)', ['a', 'b'], 'missing'],
      ['garbage', 'not.a.jwt', 'invalid'],
      ['huge', 'x'.repeat(5000), 'invalid'],
      ['expired', await mint({}, { exp: now - 1 }), 'expired'],
      ['forged (other key)', await mint({}, { key: other }), 'invalid'],
      ['HS512', await mint({}, { alg: 'HS512' }), 'invalid'],
      [
        'a player token',
        await mint({ typ: 'player', iss: 'coinslot-accounts', aud: undefined }),
        'invalid',
      ],
      ['another audience', await mint({ aud: 'coinslot-subgraph' }), 'invalid'],
      ['another issuer', await mint({ iss: 'coinslot-accounts' }), 'invalid'],
      ['no player', await mint({ pid: undefined }), 'invalid'],
      [
        'another payment',
        await mint({ sub: '01930000-0000-7000-8000-000000000002' }),
        'wrong-payment',
      ],
    ];
    for (const [what, token, reason] of cases) {
      expect({ what, verdict: await verifyCashDeskToken(key, token, paymentId) }).toEqual({
        what,
        verdict: { ok: false, reason },
      });
    }
    // alg "none": header and payload only.
    const [h, p] = (await mint()).split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${p}.`;
    expect(await verifyCashDeskToken(key, none, paymentId)).toEqual({
      ok: false,
      reason: 'invalid',
    });
    expect(await verifyCashDeskToken(key, `${h}.${p}.`, paymentId)).toEqual({
      ok: false,
      reason: 'invalid',
    });
  });

  it('expires at exp, to the second', async () => {
    const token = await mint({}, { exp: now + 60 });
    expect((await verifyCashDeskToken(key, token, paymentId, new Date((now + 59) * 1000))).ok).toBe(
      true,
    );
    expect(await verifyCashDeskToken(key, token, paymentId, new Date((now + 60) * 1000))).toEqual({
      ok: false,
      reason: 'expired',
    });
  });
});

describe('cash desk: what its token may read over graphql-ws', () => {
  const paymentId = '01930000-0000-7000-8000-000000000001';
  const scoped = cashDeskPrincipal({ paymentId, playerId: 'p-1', merchantId: 'm-1', expiresAt: 0 });
  const player: Principal = { kind: 'player', playerId: 'p-1', merchantId: 'm-1' };

  it('is its player, limited to its payment', () => {
    expect(scoped).toEqual(player);
    expect(cashDeskScope(scoped)).toBe(paymentId);
    expect(cashDeskScope(player)).toBeUndefined();
  });

  it.each([
    [
      'its payment (the re-read of paymentStatusChanged)',
      'query($__id: ID!) { s: payment(id: $__id) { id status player { id } } }',
      { __id: paymentId },
      true,
    ],
    ['its payment, literal id', `query { payment(id: "${paymentId}") { id } }`, {}, true],
    [
      'another payment',
      'query($__id: ID!) { payment(id: $__id) { id } }',
      { __id: '01930000-0000-7000-8000-000000000002' },
      false,
    ],
    ['its player', 'query($id: ID!) { player(id: $id) { id } }', { id: 'p-1' }, false],
    [
      'two root fields',
      'query($i: ID!) { payment(id: $i) { id } me: player(id: "p-1") { id } }',
      { i: paymentId },
      false,
    ],
    [
      'a fragment at the root',
      'query($i: ID!) { ... on Query { payment(id: $i) { id } } }',
      { i: paymentId },
      false,
    ],
    ['a mutation', 'mutation { issuePlayerToken(playerId: "p-1") { token } }', {}, false],
  ])('%s → %s', (_what, query, variables, allowed) => {
    expect(cashDeskMayRead(scoped, parse(query), variables)).toBe(allowed);
    // Every other principal is left to the subgraphs' own rules.
    expect(cashDeskMayRead(player, parse(query), variables)).toBe(true);
  });
});

describe('cash desk: the page', () => {
  const payment = {
    id: '01930000-0000-7000-8000-000000000001',
    orderRef: `<img src=x onerror="alert(1)">&'</script>`,
    status: 'REQUIRES_ACTION',
    failureCode: null,
    amountMinor: '199',
    currency: 'EUR',
    nextAction: {
      kind: 'REDIRECT',
      url: 'http://localhost:4000/cash-desk/01930000-0000-7000-8000-000000000001?t=x',
    },
    channelKind: 'CARD',
  };

  it('escapes everything it shows, in markup and in script data', () => {
    const html = renderCashDesk({
      lang: 'fr',
      amount: '1,99 €',
      payment,
      token: 'a"b</script>',
      returning: false,
    });
    expect(html).not.toContain('<img');
    expect(html).toContain(
      '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;&lt;/script&gt;',
    );
    expect(html.match(/<\/script>/g)).toHaveLength(2);
    expect(html).toContain('value="a&quot;b&lt;/script&gt;"');
    expect(html).toContain('<html lang="fr">');
    expect(html).toMatch(
      /<form id="pay-form"[^>]*action="\/cash-desk\/01930000-0000-7000-8000-000000000001\/pay">/,
    );
    expect(escapeHtml(`<&>"'`)).toBe('&lt;&amp;&gt;&quot;&#39;');
    expect(jsonForScript({ a: '</script><!--\u2028' })).toBe(
      '{"a":"\\u003c/script\\u003e\\u003c!--\\u2028"}',
    );
  });

  it('shows the failure reason of a failed payment, and no form', () => {
    const html = renderCashDesk({
      lang: 'de',
      amount: '1,99 €',
      payment: {
        ...payment,
        status: 'FAILED',
        failureCode: 'INSUFFICIENT_FUNDS',
        nextAction: null,
      },
      token: 't',
      returning: false,
    });
    expect(html).toContain('Zahlung fehlgeschlagen');
    expect(html).toContain('Ihre Karte ist nicht ausreichend gedeckt.');
    expect(html).toMatch(/<form id="pay-form"[^>]* hidden>/);
  });

  it("links to a carrier's consent page or the PSP's authentication, only over http(s)", () => {
    const consent = renderCashDesk({
      lang: 'en',
      amount: '€1.99',
      payment: {
        ...payment,
        channelKind: 'CARRIER_BILLING',
        nextAction: { kind: 'REDIRECT', url: 'https://carrier.example/consent?x=1&y=2' },
      },
      token: 't',
      returning: false,
    });
    expect(consent).toContain(
      '<a id="action-link" href="https://carrier.example/consent?x=1&amp;y=2" rel="noreferrer">Open your carrier’s consent page</a>',
    );
    const script = renderCashDesk({
      lang: 'en',
      amount: '€1.99',
      payment: { ...payment, nextAction: { kind: 'REDIRECT', url: 'javascript:alert(1)' } },
      token: 't',
      returning: false,
    });
    expect(script).not.toContain('href="javascript:');
    expect(safeHttpUrl('javascript:alert(1)')).toBeNull();
    expect(safeHttpUrl('data:text/html,x')).toBeNull();
    expect(isCashDeskAction(payment.nextAction, payment.id)).toBe(true);
    expect(
      isCashDeskAction({ kind: 'REDIRECT', url: 'http://127.0.0.1:9/3ds/pi_1' }, payment.id),
    ).toBe(false);
  });

  it('an error page says what is wrong in the language asked for, and nothing else', () => {
    const html = renderError('fr', 'expired');
    expect(html).toContain('Ce lien de paiement a expiré');
    expect(html).not.toContain('<form');
    expect(html).not.toContain('<script');
  });
});
