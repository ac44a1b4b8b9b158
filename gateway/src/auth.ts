import { jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';
import {
  type InternalContextSigner,
  INTERNAL_CONTEXT_HEADER,
  KEY_PREFIX,
  hashApiKey,
  unauthenticated,
  type Principal,
} from '@coinslot/kernel';
import type { Fetcher } from './fetcher';
import { cashDeskPrincipal, verifyCashDeskToken } from './cash-desk/token';

export interface AuthenticatorOptions {
  /**
   * Also accept billing's cash-desk tokens, as their player limited to their one payment
   * (cash-desk/scope.ts). Only graphql-ws turns this on: on HTTP such a token is refused.
   */
  acceptCashDeskTokens?: boolean;
}

interface CredentialAnswer {
  data?: {
    _credential: {
      kind: string;
      merchantId: string | null;
      portalId: string | null;
      adminId: string | null;
      role: string | null;
    } | null;
  };
  errors?: unknown[];
}

/**
 * Turns an Authorization header into a principal: portal and admin API keys are looked up in
 * accounts by their hash (cached briefly, so a revoked key stops working within a minute);
 * player tokens are verified locally.
 */
export class Authenticator {
  private readonly keys = new LRUCache<string, Principal | 'invalid'>({ max: 50_000, ttl: 60_000 });
  private readonly playerKey: Uint8Array;
  private readonly gatewayPrincipal: Principal = { kind: 'service', service: 'gateway' };

  constructor(
    private readonly accountsUrl: string,
    playerTokenSecret: string,
    private readonly signer: InternalContextSigner,
    private readonly fetcher: Fetcher,
    private readonly options: AuthenticatorOptions = {},
  ) {
    this.playerKey = new TextEncoder().encode(playerTokenSecret);
  }

  async authenticate(authorization: string | undefined): Promise<Principal | null> {
    if (!authorization) return null;
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!match) throw unauthenticated('Authorization must be "Bearer <API key or player token>".');
    const token = match[1]!;
    if (token.startsWith(KEY_PREFIX.portal) || token.startsWith(KEY_PREFIX.admin))
      return this.apiKey(token);
    if (this.options.acceptCashDeskTokens) {
      const cashDesk = await verifyCashDeskToken(this.playerKey, token);
      if (cashDesk.ok) return cashDeskPrincipal(cashDesk.grant);
    }
    return this.playerToken(token);
  }

  private async apiKey(key: string): Promise<Principal> {
    const hash = hashApiKey(key);
    let principal = this.keys.get(hash);
    if (principal === undefined) {
      principal = (await this.lookup(hash)) ?? 'invalid';
      this.keys.set(hash, principal, principal === 'invalid' ? { ttl: 5_000 } : undefined);
    }
    if (principal === 'invalid') throw unauthenticated('Unknown or revoked API key.');
    return principal;
  }

  private async lookup(keyHash: string): Promise<Principal | null> {
    const res = await this.fetcher(this.accountsUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [INTERNAL_CONTEXT_HEADER]: await this.signer.sign(this.gatewayPrincipal),
      },
      body: JSON.stringify({
        query:
          'query($h: String!) { _credential(keyHash: $h) { kind merchantId portalId adminId role } }',
        variables: { h: keyHash },
      }),
    });
    const body = (await res.json()) as CredentialAnswer;
    const c = body.data?._credential;
    if (!c) {
      if (body.errors) throw new Error(`credential lookup failed: ${JSON.stringify(body.errors)}`);
      return null;
    }
    if (c.kind === 'portal' && c.merchantId && c.portalId)
      return { kind: 'portal', merchantId: c.merchantId, portalId: c.portalId };
    if (c.kind === 'admin' && c.adminId && (c.role === 'operator' || c.role === 'owner')) {
      return { kind: 'admin', adminId: c.adminId, role: c.role };
    }
    return null;
  }

  private async playerToken(token: string): Promise<Principal> {
    try {
      const { payload } = await jwtVerify(token, this.playerKey, {
        issuer: 'coinslot-accounts',
        algorithms: ['HS256'],
      });
      if (
        payload.typ !== 'player' ||
        typeof payload.sub !== 'string' ||
        typeof payload.mid !== 'string'
      ) {
        throw new Error('not a player token');
      }
      return { kind: 'player', playerId: payload.sub, merchantId: payload.mid };
    } catch {
      throw unauthenticated('Invalid or expired player token: ask the portal for a new one.');
    }
  }
}
