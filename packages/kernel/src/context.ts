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
/**
 * Verified contexts by token. The gateway reuses a signed token for the same caller for half its
 * lifetime, so most requests carry a token this process has already verified: a hit costs a map
 * lookup and an expiry check instead of an HMAC verification through WebCrypto.
 */
const verified = new Map<
  string,
  Map<string, { principal: Principal; meta: RequestMeta; exp: number }>
>();
const VERIFIED_MAX = 10_000;

export async function readInternalContext(
  token: string | undefined,
  secret: string,
): Promise<{ principal: Principal; meta: RequestMeta }> {
  if (!token)
    throw unauthenticated(
      'Missing internal context: subgraphs are reached only through the gateway.',
    );
  let bySecret = verified.get(secret);
  const hit = bySecret?.get(token);
  if (hit && hit.exp > Date.now() / 1000) return { principal: hit.principal, meta: hit.meta };
  try {
    const { payload } = await jwtVerify(token, key(secret), {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['HS256'],
    });
    const p = payload.p as Principal | undefined;
    if (!p || typeof p !== 'object' || !('kind' in p)) throw new Error('no principal');
    const entry = {
      principal: Object.freeze(p),
      meta: Object.freeze((payload.m as RequestMeta | undefined) ?? {}),
    };
    if (typeof payload.exp === 'number') {
      if (!bySecret) verified.set(secret, (bySecret = new Map()));
      if (bySecret.size >= VERIFIED_MAX) bySecret.clear();
      bySecret.set(token, { ...entry, exp: payload.exp });
    }
    return entry;
  } catch {
    throw unauthenticated('Invalid internal context.');
  }
}

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
