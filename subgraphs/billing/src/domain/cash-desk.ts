import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Cash-desk links: a CARD payment created without a card token sends the player to
 * `${PUBLIC_BASE_URL}/cash-desk/<paymentId>?t=<token>`. The token is an HS256 JWT signed with
 * the PLAYER_TOKEN_SECRET (the key the gateway already holds for player tokens), so the gateway
 * can serve the page without asking billing who the player is:
 *
 *   header  {"alg":"HS256","typ":"JWT"}
 *   payload {"typ":"cash-desk","sub":<paymentId>,"mid":<merchantId>,"pid":<playerId>,
 *            "iss":"coinslot-billing","aud":"coinslot-cash-desk","iat":…,"exp":…}
 *
 * Short-lived (CASH_DESK_TOKEN_TTL_SECONDS, default 15 minutes).
 */
export const CASH_DESK_ISSUER = 'coinslot-billing';
export const CASH_DESK_AUDIENCE = 'coinslot-cash-desk';

export interface CashDeskClaims {
  typ: 'cash-desk';
  sub: string;
  mid: string;
  pid: string;
  iss: string;
  aud: string;
  iat: number;
  exp: number;
}

const b64 = (value: Buffer | string) => Buffer.from(value).toString('base64url');

export function signCashDeskToken(
  key: Uint8Array,
  payment: { id: string; merchantId: string; playerId: string },
  ttlSeconds: number,
  now = Date.now(),
): string {
  const iat = Math.floor(now / 1000);
  const claims: CashDeskClaims = {
    typ: 'cash-desk',
    sub: payment.id,
    mid: payment.merchantId,
    pid: payment.playerId,
    iss: CASH_DESK_ISSUER,
    aud: CASH_DESK_AUDIENCE,
    iat,
    exp: iat + ttlSeconds,
  };
  const signingInput = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(JSON.stringify(claims))}`;
  const signature = createHmac('sha256', key).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

/** Verifies a cash-desk token; null when forged, expired or for another audience. */
export function verifyCashDeskToken(
  key: Uint8Array,
  token: string,
  now = Date.now(),
): CashDeskClaims | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [header, payload, signature] = parts as [string, string, string];
  const expected = createHmac('sha256', key).update(`${header}.${payload}`).digest();
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const h = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: string };
    const c = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as CashDeskClaims;
    if (
      h.alg !== 'HS256' ||
      c.typ !== 'cash-desk' ||
      c.iss !== CASH_DESK_ISSUER ||
      c.aud !== CASH_DESK_AUDIENCE
    )
      return null;
    if (typeof c.exp !== 'number' || c.exp * 1000 <= now) return null;
    return c;
  } catch {
    return null;
  }
}

export function cashDeskUrl(publicBaseUrl: string, paymentId: string, token: string): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}/cash-desk/${paymentId}?t=${token}`;
}
