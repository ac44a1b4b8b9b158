import { failureReason, MESSAGES, TEST_CARDS, type Language, type Messages } from './i18n';

/** Every page and answer of the cash desk: nothing from elsewhere, nothing cached, no referrer. */
export const CASH_DESK_HEADERS: Record<string, string> = {
  'content-security-policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    // The status subscription: graphql-ws on this origin's /graphql.
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join('; '),
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** JSON that is safe inside <script type="application/json"> (no "</script>", no U+2028/9). */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Only absolute http(s) URLs are ever put in a link or followed. */
export function safeHttpUrl(value: string | null | undefined): string | null {
  if (!value) return null;
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.toString() : null;
  } catch {
    return null;
  }
}

export interface NextActionView {
  kind: string;
  url: string | null;
}

export interface PaymentView {
  id: string;
  orderRef: string;
  status: string;
  failureCode: string | null;
  amountMinor: string;
  currency: string;
  nextAction: NextActionView | null;
  /** CARD for the cash desk's own payments; a carrier's consent page is only linked to. */
  channelKind: string;
}

export interface PageModel {
  lang: Language;
  /** The formatted amount (formatAmount). */
  amount: string;
  payment: PaymentView;
  token: string;
  /** The player came back from the PSP's authentication page. */
  returning: boolean;
}

/** Whether a next action is this cash desk itself (billing's "enter a card" redirect). */
export function isCashDeskAction(action: NextActionView | null, paymentId: string): boolean {
  if (!action || action.kind !== 'REDIRECT' || !action.url) return false;
  try {
    return new URL(action.url).pathname === `/cash-desk/${paymentId}`;
  } catch {
    return false;
  }
}

const layout = (lang: Language, title: string, body: string) =>
  `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/cash-desk/assets/cash-desk.css">
</head>
<body>
${body}
</body>
</html>
`;

function statusText(m: Messages, p: PaymentView, returning: boolean): string {
  if (p.status === 'REQUIRES_ACTION' && returning && !isCashDeskAction(p.nextAction, p.id))
    return m.checking;
  return m.status[p.status as keyof Messages['status']] ?? p.status;
}

/** The cash desk page: the order, the amount, the card form, and the live status. */
export function renderCashDesk(model: PageModel): string {
  const m = MESSAGES[model.lang];
  const p = model.payment;
  const e = escapeHtml;
  const waitsForCard = p.status === 'REQUIRES_ACTION' && isCashDeskAction(p.nextAction, p.id);
  const elsewhere =
    p.status === 'REQUIRES_ACTION' && !waitsForCard
      ? safeHttpUrl(p.nextAction?.kind === 'REDIRECT' ? p.nextAction.url : null)
      : null;
  const final = p.status === 'SUCCEEDED' || p.status === 'FAILED' || p.status === 'CANCELED';
  const cards = TEST_CARDS.map(
    (card, i) =>
      `<label class="card"><input type="radio" name="cardToken" value="${e(card)}"${i === 0 ? ' checked' : ''}> <span>${e(m.cards[card])}</span> <code>${e(card)}</code></label>`,
  ).join('\n');
  const config = {
    paymentId: p.id,
    token: model.token,
    channelKind: p.channelKind,
    returning: model.returning,
    payment: { status: p.status, failureCode: p.failureCode, nextAction: p.nextAction },
    messages: {
      status: m.status,
      reasons: m.reasons,
      checking: m.checking,
      authenticate: m.authenticate,
      consent: m.consent,
      done: m.done,
      paying: m.paying,
      pay: m.pay.replace('{amount}', model.amount),
      reconnecting: m.reconnecting,
      payError: m.payError,
      notWaiting: m.notWaiting,
      expired: m.errors.expired.title,
    },
  };
  const body = `<main class="desk">
<h1>${e(m.title)}</h1>
<dl class="order">
<dt>${e(m.order)}</dt><dd id="order-ref">${e(p.orderRef)}</dd>
<dt>${e(m.amount)}</dt><dd id="amount">${e(model.amount)}</dd>
</dl>
<section id="status" class="status" data-status="${e(p.status)}" data-source="page" role="status" aria-live="polite">
<p id="status-text" class="status-text">${e(statusText(m, p, model.returning))}</p>
<p id="status-reason" class="reason"${p.status === 'FAILED' ? '' : ' hidden'}>${p.status === 'FAILED' ? e(failureReason(m, p.failureCode)) : ''}</p>
<p id="status-done" class="done"${final ? '' : ' hidden'}>${e(m.done)}</p>
</section>
<form id="pay-form" class="pay" method="post" action="/cash-desk/${encodeURIComponent(p.id)}/pay"${waitsForCard ? '' : ' hidden'}>
<input type="hidden" name="t" value="${e(model.token)}">
<fieldset>
<legend>${e(m.card)}</legend>
<p class="hint">${e(m.cardHint)}</p>
${cards}
</fieldset>
<button id="pay" type="submit">${e(m.pay.replace('{amount}', model.amount))}</button>
</form>
<p id="action" class="action"${elsewhere ? '' : ' hidden'}><a id="action-link" href="${e(elsewhere ?? '#')}" rel="noreferrer">${e(p.channelKind === 'CARD' ? m.authenticate : m.consent)}</a></p>
<p id="error" class="error" role="alert" hidden></p>
</main>
<script type="application/json" id="cash-desk-config">${jsonForScript(config)}</script>
<script src="/cash-desk/assets/cash-desk.js"></script>`;
  return layout(model.lang, `${m.title} · ${p.orderRef}`, body);
}

export type ErrorKind = keyof Messages['errors'];

/** A page that says what went wrong and nothing about the payment. */
export function renderError(lang: Language, kind: ErrorKind): string {
  const m = MESSAGES[lang].errors[kind];
  return layout(
    lang,
    m.title,
    `<main class="desk"><section class="status" data-status="ERROR" data-error="${escapeHtml(kind)}"><h1>${escapeHtml(m.title)}</h1><p>${escapeHtml(m.text)}</p></section></main>`,
  );
}
