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
): Promise<string> {
  return new SignJWT({ p: principal })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(key(secret));
}

/** Verifies the header value; anything unsigned, forged or expired is UNAUTHENTICATED. */
export async function verifyInternalContext(token: string | undefined, secret: string): Promise<Principal> {
  if (!token) throw unauthenticated('Missing internal context: subgraphs are reached only through the gateway.');
  try {
    const { payload } = await jwtVerify(token, key(secret), {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['HS256'],
    });
    const p = payload.p as Principal | undefined;
    if (!p || typeof p !== 'object' || !('kind' in p)) throw new Error('no principal');
    return p;
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

  async sign(principal: Principal): Promise<string> {
    const cacheKey = JSON.stringify(principal);
    const now = Date.now();
    const hit = this.cache.get(cacheKey);
    if (hit && hit.until > now) return hit.token;
    const token = await signInternalContext(principal, this.secret, this.ttlSeconds);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(cacheKey, { token, until: now + (this.ttlSeconds * 1000) / 2 });
    return token;
  }
}
