import { errors, jwtVerify } from 'jose';
import type { Principal } from '@coinslot/kernel';

/**
 * Cash-desk links are minted by billing (subgraphs/billing/src/domain/cash-desk.ts):
 * `${PUBLIC_BASE_URL}/cash-desk/<paymentId>?t=<token>`, the token an HS256 JWT signed with the
 * PLAYER_TOKEN_SECRET, claims {typ: "cash-desk", sub: paymentId, mid: merchantId, pid: playerId,
 * iss: "coinslot-billing", aud: "coinslot-cash-desk", iat, exp}. The gateway verifies it with the
 * key it already holds for player tokens; nothing here trusts the URL beyond the signature.
 */
export const CASH_DESK_ISSUER = 'coinslot-billing';
export const CASH_DESK_AUDIENCE = 'coinslot-cash-desk';

export interface CashDeskGrant {
  paymentId: string;
  playerId: string;
  merchantId: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

export type CashDeskVerdict =
  | { ok: true; grant: CashDeskGrant }
  /** missing / forged / malformed → 401, expired → 401, a valid token of another payment → 403. */
  | { ok: false; reason: 'missing' | 'invalid' | 'expired' | 'wrong-payment' };

const MAX_TOKEN_LENGTH = 2048;

/** Verifies a cash-desk token; with `paymentId`, also that it was minted for that payment. */
export async function verifyCashDeskToken(
  key: Uint8Array,
  token: unknown,
  paymentId?: string,
  now: Date = new Date(),
): Promise<CashDeskVerdict> {
  if (typeof token !== 'string' || token.length === 0) return { ok: false, reason: 'missing' };
  if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'invalid' };
  try {
    const { payload } = await jwtVerify(token, key, {
      issuer: CASH_DESK_ISSUER,
      audience: CASH_DESK_AUDIENCE,
      algorithms: ['HS256'],
      requiredClaims: ['exp', 'sub'],
      currentDate: now,
    });
    const { typ, sub, mid, pid, exp } = payload as Record<string, unknown>;
    if (
      typ !== 'cash-desk' ||
      typeof sub !== 'string' ||
      typeof mid !== 'string' ||
      typeof pid !== 'string' ||
      typeof exp !== 'number'
    ) {
      return { ok: false, reason: 'invalid' };
    }
    if (paymentId !== undefined && sub !== paymentId) return { ok: false, reason: 'wrong-payment' };
    return { ok: true, grant: { paymentId: sub, playerId: pid, merchantId: mid, expiresAt: exp } };
  } catch (err) {
    return { ok: false, reason: err instanceof errors.JWTExpired ? 'expired' : 'invalid' };
  }
}

/**
 * A cash-desk token acts as its player, for one payment only. The principal is the player's (so
 * billing's visibility rules apply unchanged); the payment it is limited to is remembered here
 * and enforced by the gateway where the token is accepted (graphql-ws re-reads, see scope.ts).
 */
const SCOPES = new WeakMap<Principal, string>();

export function cashDeskPrincipal(grant: CashDeskGrant): Principal {
  const principal: Principal = {
    kind: 'player',
    playerId: grant.playerId,
    merchantId: grant.merchantId,
  };
  SCOPES.set(principal, grant.paymentId);
  return principal;
}

/** The one payment a cash-desk principal may read; undefined for every other principal. */
export function cashDeskScope(principal: Principal): string | undefined {
  return SCOPES.get(principal);
}
