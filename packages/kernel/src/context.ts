import { SignJWT, jwtVerify } from 'jose';
import { unauthenticated } from './errors';

/** The header that carries the gateway-signed internal context to subgraphs. */
export const INTERNAL_CONTEXT_HEADER = 'x-coinslot-context';

export type AdminRole = 'operator' | 'owner';

/** Who is calling, as established by the gateway (or a service calling another). */
export type Principal =
  | { kind: 'portal'; merchantId: string; portalId: string }
  | { kind: 'player'; merchantId: string; playerId: string }
  | { kind: 'admin'; adminId: string; role: AdminRole }
  | { kind: 'service'; service: string };

/** Facts about the request the gateway vouches for, beside the principal. */
export interface RequestMeta {
  /** The client's address as the gateway saw it (rate limits, audit). */
  clientIp?: string;
}

const ISSUER = 'coinslot-gateway';
const AUDIENCE = 'coinslot-subgraph';

function key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

/** Signs a principal for one hop to a subgraph; short-lived so a leaked header expires. */
export async function signInternalContext(
  principal: Principal,
  secret: string,
  ttlSeconds = 120,
  meta: RequestMeta = {},
): Promise<string> {
  return new SignJWT({ p: principal, m: meta })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(key(secret));
}

/** Verifies the header value; anything unsigned, forged or expired is UNAUTHENTICATED. */
export async function verifyInternalContext(
  token: string | undefined,
  secret: string,
): Promise<Principal> {
  return (await readInternalContext(token, secret)).principal;
}

/** Like verifyInternalContext, with the request facts the gateway signed. */
export async function readInternalContext(
  token: string | undefined,
  secret: string,
): Promise<{ principal: Principal; meta: RequestMeta }> {
  if (!token)
    throw unauthenticated(
      'Missing internal context: subgraphs are reached only through the gateway.',
    );
  try {
    const { payload } = await jwtVerify(token, key(secret), {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['HS256'],
    });
    const p = payload.p as Principal | undefined;
    if (!p || typeof p !== 'object' || !('kind' in p)) throw new Error('no principal');
    return { principal: p, meta: (payload.m as RequestMeta | undefined) ?? {} };
  } catch {
    throw unauthenticated('Invalid internal context.');
  }
}

/**
 * Caches signed contexts per principal so the hot path signs once a minute, not per request.
 */
export class InternalContextSigner {
  private cache = new Map<string, { token: string; until: number }>();
  constructor(
    private readonly secret: string,
    private readonly ttlSeconds = 120,
  ) {}

  async sign(principal: Principal, meta: RequestMeta = {}): Promise<string> {
    const cacheKey = JSON.stringify([principal, meta]);
    const now = Date.now();
    const hit = this.cache.get(cacheKey);
    if (hit && hit.until > now) return hit.token;
    const token = await signInternalContext(principal, this.secret, this.ttlSeconds, meta);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(cacheKey, { token, until: now + (this.ttlSeconds * 1000) / 2 });
    return token;
  }
}
