import fs from 'node:fs';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { parse, type ExecutionResult } from 'graphql';
import type { Logger } from 'pino';
import {
  INTERNAL_CONTEXT_HEADER,
  type InternalContextSigner,
  type Principal,
} from '@coinslot/kernel';
import type { Fetcher } from '../fetcher';
import type { Executor } from '../subscriptions';
import { formatAmount, usableLocale } from './format';
import { acceptedLanguages, pickLanguage, TEST_CARDS, type Language } from './i18n';
import {
  CASH_DESK_HEADERS,
  renderCashDesk,
  renderError,
  safeHttpUrl,
  type ErrorKind,
  type PaymentView,
} from './page';
import {
  cashDeskPrincipal,
  verifyCashDeskToken,
  type CashDeskGrant,
  type CashDeskVerdict,
} from './token';

export interface CashDeskOptions {
  /** The HS256 key billing signs cash-desk links with (PLAYER_TOKEN_SECRET). */
  playerTokenSecret: string;
  /** billing's own GraphQL endpoint (its internal mutations are not on the public API). */
  billingUrl: string;
  signer: InternalContextSigner;
  fetcher: Fetcher;
  /** Runs a query through the gateway as a principal (the page reads the payment as its player). */
  execute: Executor;
  log: Logger;
  /**
   * Where the PSP sends the player back after 3-D Secure; without it, the origin the page was
   * requested on (behind a proxy, with TRUST_PROXY set).
   */
  publicBaseUrl?: string;
  payTimeoutMs?: number;
}

const ASSETS: Record<string, { type: string; body: Buffer }> = {
  'cash-desk.js': {
    type: 'text/javascript; charset=utf-8',
    body: fs.readFileSync(path.join(__dirname, 'assets', 'cash-desk.js')),
  },
  'cash-desk.css': {
    type: 'text/css; charset=utf-8',
    body: fs.readFileSync(path.join(__dirname, 'assets', 'cash-desk.css')),
  },
};

const READ_PAYMENT = parse(`query CashDeskPayment($id: ID!) {
  payment(id: $id) {
    id orderRef status failureCode
    amount { amountMinor currency }
    nextAction { kind url }
    price { channelKind }
    player { locale }
  }
}`);

/**
 * Billing's internal mutation that charges the card token entered on the cash desk, from
 * REQUIRES_ACTION (PaymentService.chargeCard). @inaccessible: reached on billing's own endpoint
 * with the gateway's service context, after the gateway has verified the cash-desk token.
 */
export const PAY_WITH_CARD = `mutation CashDeskPay($paymentId: ID!, $cardToken: String!, $returnUrl: String) {
  _payWithCard(paymentId: $paymentId, cardToken: $cardToken, returnUrl: $returnUrl) {
    id status failureCode nextAction { kind url }
  }
}`;

const GATEWAY: Principal = { kind: 'service', service: 'gateway' };
const CARD_TOKEN = /^tok_[A-Za-z0-9_]{1,64}$/;
const HOST =
  /^(?:[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/** A payment as billing and the gateway answer it (wire data: checked where used). */
interface WirePayment {
  id: string;
  orderRef?: string;
  status: string;
  failureCode?: string | null;
  amount?: { amountMinor: string; currency: string };
  nextAction?: { kind: string; url?: string | null } | null;
  price?: { channelKind?: string } | null;
  player?: { locale?: string | null } | null;
}

interface WireError {
  message: string;
  extensions?: { code?: string; reason?: string };
}

type PayAnswer =
  | { ok: true; payment: Pick<PaymentView, 'id' | 'status' | 'failureCode' | 'nextAction'> }
  | { ok: false; status: number; code: string; message: string };

const nextActionOf = (p: WirePayment) =>
  p.nextAction ? { kind: p.nextAction.kind, url: p.nextAction.url ?? null } : null;

function send(res: Response, status: number, type: string, body: string | Buffer): void {
  res.status(status).set(CASH_DESK_HEADERS).type(type).send(body);
}

function languageOf(req: Request): Language {
  return pickLanguage(...acceptedLanguages(req.get('accept-language')));
}

const REFUSAL: Record<
  Exclude<CashDeskVerdict, { ok: true }>['reason'],
  { status: number; kind: ErrorKind; code: string }
> = {
  missing: { status: 401, kind: 'invalid', code: 'UNAUTHENTICATED' },
  invalid: { status: 401, kind: 'invalid', code: 'UNAUTHENTICATED' },
  expired: { status: 401, kind: 'expired', code: 'UNAUTHENTICATED' },
  'wrong-payment': { status: 403, kind: 'forbidden', code: 'FORBIDDEN' },
};

function wantsJson(req: Request): boolean {
  return (
    req.is('application/json') === 'application/json' || req.accepts(['html', 'json']) === 'json'
  );
}

/**
 * The cash desk: `GET /cash-desk/:paymentId?t=<token>` (the page), `POST /cash-desk/:paymentId/pay`
 * (the card token, as JSON or a plain form), and its two static assets. The token billing put
 * in the link is the only authorisation; a page for a bad one says so and shows nothing else.
 */
export function registerCashDesk(app: express.Express, options: CashDeskOptions): void {
  const key = new TextEncoder().encode(options.playerTokenSecret);
  const log = options.log.child({ component: 'cash-desk' });
  const inFlight = new Set<string>();
  const router = express.Router();

  router.get('/assets/:name', (req, res) => {
    const asset = ASSETS[req.params.name];
    if (!asset) {
      send(res, 404, 'text/plain', 'Not found.');
      return;
    }
    res
      .status(200)
      .set({ ...CASH_DESK_HEADERS, 'cache-control': 'public, max-age=300' })
      .type(asset.type)
      .send(asset.body);
  });

  router.get('/:paymentId', async (req, res, next) => {
    try {
      const lang = languageOf(req);
      const verdict = await verifyCashDeskToken(key, req.query.t, req.params.paymentId);
      if (!verdict.ok) {
        const refusal = REFUSAL[verdict.reason];
        send(res, refusal.status, 'html', renderError(lang, refusal.kind));
        return;
      }
      const read = await readPayment(verdict.grant);
      if (!read.ok) {
        send(res, read.status, 'html', renderError(lang, read.kind));
        return;
      }
      // The player's language; without one, the browser's; English when neither is spoken here.
      const accepted = acceptedLanguages(req.get('accept-language'));
      const locale = usableLocale(read.locale ?? accepted[0], 'en');
      const html = renderCashDesk({
        lang: read.locale ? pickLanguage(read.locale) : pickLanguage(...accepted),
        amount: formatAmount(read.payment.amountMinor, read.payment.currency, locale),
        payment: read.payment,
        token: req.query.t as string,
        returning: typeof req.query.redirect_status === 'string',
      });
      send(res, 200, 'html', html);
    } catch (err) {
      next(err);
    }
  });

  router.post(
    '/:paymentId/pay',
    express.json({ limit: '4kb' }),
    express.urlencoded({ limit: '4kb', extended: false }),
    async (req, res, next) => {
      const json = wantsJson(req);
      const fail = (status: number, code: string, message: string, kind: ErrorKind) => {
        if (json) send(res, status, 'json', JSON.stringify({ error: { code, message } }));
        else send(res, status, 'html', renderError(languageOf(req), kind));
      };
      try {
        const body = (req.body ?? {}) as Record<string, unknown>;
        const paymentId = req.params.paymentId;
        const verdict = await verifyCashDeskToken(key, body.t, paymentId);
        if (!verdict.ok) {
          const refusal = REFUSAL[verdict.reason];
          fail(refusal.status, refusal.code, 'Invalid or expired cash-desk link.', refusal.kind);
          return;
        }
        const cardToken = body.cardToken;
        if (typeof cardToken !== 'string' || !CARD_TOKEN.test(cardToken)) {
          fail(
            400,
            'BAD_USER_INPUT',
            `cardToken must be a card token such as ${TEST_CARDS.join(', ')}.`,
            'invalid',
          );
          return;
        }
        // One card at a time per payment on this gateway (a double click); across gateways,
        // billing's own lease on the payment refuses a second concurrent charge (CONFLICT).
        if (inFlight.has(paymentId)) {
          fail(409, 'CONFLICT', 'A card is already being charged for this payment.', 'forbidden');
          return;
        }
        inFlight.add(paymentId);
        let answer: PayAnswer;
        try {
          answer = await payWithCard(
            paymentId,
            cardToken,
            returnUrl(req, paymentId, body.t as string),
          );
        } finally {
          inFlight.delete(paymentId);
        }
        if (!answer.ok) {
          fail(
            answer.status,
            answer.code,
            answer.message,
            answer.status === 404 ? 'notFound' : answer.status >= 500 ? 'unavailable' : 'forbidden',
          );
          return;
        }
        if (json) {
          send(res, 200, 'json', JSON.stringify({ payment: answer.payment }));
          return;
        }
        // Without script: back to the page, which shows the status (and the PSP's link, if any).
        res
          .set(CASH_DESK_HEADERS)
          .redirect(
            303,
            `/cash-desk/${encodeURIComponent(paymentId)}?t=${encodeURIComponent(body.t as string)}`,
          );
      } catch (err) {
        next(err);
      }
    },
  );

  // Unreadable bodies and anything unexpected: a page (or JSON) that says so, never a stack.
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number; type?: string }).type
      ? ((err as { status?: number }).status ?? 400)
      : 500;
    if (status >= 500) log.error({ err }, 'cash desk failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (wantsJson(req))
      send(
        res,
        status,
        'json',
        JSON.stringify({
          error: {
            code: status >= 500 ? 'INTERNAL' : 'BAD_USER_INPUT',
            message: status >= 500 ? 'Internal error.' : 'Unreadable request.',
          },
        }),
      );
    else
      send(
        res,
        status,
        'html',
        renderError(languageOf(req), status >= 500 ? 'unavailable' : 'invalid'),
      );
  });

  app.use('/cash-desk', router);

  async function readPayment(
    grant: CashDeskGrant,
  ): Promise<
    | { ok: true; payment: PaymentView; locale: string | null }
    | { ok: false; status: number; kind: ErrorKind }
  > {
    let result: ExecutionResult;
    try {
      result = await options.execute(
        READ_PAYMENT,
        { id: grant.paymentId },
        cashDeskPrincipal(grant),
      );
    } catch (err) {
      log.error({ err }, 'cash desk: payment read failed');
      return { ok: false, status: 502, kind: 'unavailable' };
    }
    const p = (result.data as { payment?: WirePayment | null } | null | undefined)?.payment;
    if (!p || !p.amount || typeof p.orderRef !== 'string') {
      const codes = (result.errors ?? []).map((e) => e.extensions?.code);
      if (codes.includes('NOT_FOUND') || codes.includes('FORBIDDEN'))
        return { ok: false, status: 404, kind: 'notFound' };
      log.error({ errors: result.errors }, 'cash desk: payment read failed');
      return { ok: false, status: 502, kind: 'unavailable' };
    }
    return {
      ok: true,
      locale: typeof p.player?.locale === 'string' ? p.player.locale : null,
      payment: {
        id: p.id,
        orderRef: p.orderRef,
        status: p.status,
        failureCode: p.failureCode ?? null,
        amountMinor: p.amount.amountMinor,
        currency: p.amount.currency,
        nextAction: nextActionOf(p),
        // Only CARD prices are sent to the cash desk; a missing price reads as one.
        channelKind: p.price?.channelKind ?? 'CARD',
      },
    };
  }

  function returnUrl(req: Request, paymentId: string, token: string): string | null {
    let base = options.publicBaseUrl;
    if (!base) {
      const host = req.get('host');
      if (!host || !HOST.test(host)) return null;
      base = `${req.protocol}://${host}`;
    }
    return safeHttpUrl(
      `${base.replace(/\/+$/, '')}/cash-desk/${encodeURIComponent(paymentId)}?t=${encodeURIComponent(token)}`,
    );
  }

  async function payWithCard(
    paymentId: string,
    cardToken: string,
    back: string | null,
  ): Promise<PayAnswer> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), options.payTimeoutMs ?? 30_000);
    let body: { data?: { _payWithCard?: WirePayment | null } | null; errors?: WireError[] };
    try {
      const res = await options.fetcher(options.billingUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [INTERNAL_CONTEXT_HEADER]: await options.signer.sign(GATEWAY),
        },
        body: JSON.stringify({
          query: PAY_WITH_CARD,
          variables: { paymentId, cardToken, returnUrl: back },
        }),
        signal: abort.signal as never,
      });
      body = (await res.json()) as typeof body;
    } catch (err) {
      log.error({ err, paymentId }, 'cash desk: billing unreachable');
      return {
        ok: false,
        status: 502,
        code: 'INTERNAL',
        message: 'The payment service is unavailable.',
      };
    } finally {
      clearTimeout(timer);
    }
    const p = body.data?._payWithCard;
    if (p) {
      return {
        ok: true,
        payment: {
          id: p.id,
          status: p.status,
          failureCode: p.failureCode ?? null,
          nextAction: nextActionOf(p),
        },
      };
    }
    const first = body.errors?.[0];
    if (first?.extensions?.reason === 'GRAPHQL_VALIDATION_FAILED') {
      // A billing without the mutation (an older one, during a rolling deploy).
      log.error({ errors: body.errors }, 'cash desk: billing has no _payWithCard mutation');
      return {
        ok: false,
        status: 501,
        code: 'NOT_IMPLEMENTED',
        message: 'Card payments at the cash desk are not available yet.',
      };
    }
    switch (first?.extensions?.code) {
      case 'NOT_FOUND':
        return { ok: false, status: 404, code: 'NOT_FOUND', message: 'Payment not found.' };
      case 'CONFLICT':
        return { ok: false, status: 409, code: 'CONFLICT', message: first.message };
      case 'BAD_USER_INPUT':
        return { ok: false, status: 400, code: 'BAD_USER_INPUT', message: first.message };
      default:
        log.error({ errors: body.errors, paymentId }, 'cash desk: charging the card failed');
        return {
          ok: false,
          status: 502,
          code: 'INTERNAL',
          message: 'The payment service is unavailable.',
        };
    }
  }
}
