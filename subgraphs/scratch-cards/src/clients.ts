import { GraphQLError } from 'graphql';
import { Agent, request } from 'undici';
import {
  AppError,
  ErrorCode,
  INTERNAL_CONTEXT_HEADER,
  InternalClient,
  InternalContextSigner,
  PUBLIC_ERROR_CODES,
  type Principal,
} from '@coinslot/kernel';
import type { Config } from './config';

const SERVICE = 'scratch-cards';

/**
 * Reads done on behalf of the caller: the request carries the caller's own principal (as the
 * gateway signed it), so the owning subgraph applies its own visibility rules — a portal asking
 * about another merchant's player gets NOT_FOUND from accounts, exactly as it would directly.
 */
class OnBehalfClient {
  private readonly agent = new Agent({ connections: 32, keepAliveTimeout: 30_000 });
  private readonly signer: InternalContextSigner;

  constructor(
    private readonly url: string,
    secret: string,
  ) {
    this.signer = new InternalContextSigner(secret);
  }

  async request<T>(
    principal: Principal,
    query: string,
    variables: Record<string, unknown> = {},
  ): Promise<T> {
    const res = await request(this.url, {
      method: 'POST',
      dispatcher: this.agent,
      headers: {
        'content-type': 'application/json',
        [INTERNAL_CONTEXT_HEADER]: await this.signer.sign(principal),
      },
      body: JSON.stringify({ query, variables }),
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const body = (await res.body.json()) as {
      data?: T;
      errors?: { message: string; extensions?: Record<string, unknown> }[];
    };
    const first = body.errors?.[0];
    if (first) {
      const code = String(first.extensions?.code ?? '');
      if (PUBLIC_ERROR_CODES.has(code) && code !== ErrorCode.INTERNAL) {
        const { code: _c, ...rest } = first.extensions ?? {};
        throw new AppError(code as ErrorCode, first.message, rest);
      }
      throw new GraphQLError(`call to ${this.url} failed: ${first.message}`);
    }
    if (!body.data)
      throw new GraphQLError(`call to ${this.url} returned no data (HTTP ${res.statusCode})`);
    return body.data;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

export interface MerchantInfo {
  id: string;
  virtualCurrency: string | null;
}

/** The other subgraphs this one talks to, each through its own GraphQL endpoint. */
export class Clients {
  readonly accounts: InternalClient;
  readonly billing: InternalClient;
  private readonly accountsAs: OnBehalfClient;
  private readonly catalogAs: OnBehalfClient;
  /** Players never change merchant: a positive answer is cached (bounded). */
  private readonly playerMerchant = new Map<string, string>();

  constructor(
    config: Pick<
      Config,
      'ACCOUNTS_URL' | 'BILLING_URL' | 'CATALOG_URL' | 'INTERNAL_CONTEXT_SECRET'
    >,
  ) {
    const secret = config.INTERNAL_CONTEXT_SECRET;
    this.accounts = new InternalClient({
      url: config.ACCOUNTS_URL,
      service: SERVICE,
      secret,
      timeoutMs: 10_000,
    });
    this.billing = new InternalClient({
      url: config.BILLING_URL,
      service: SERVICE,
      secret,
      timeoutMs: 10_000,
    });
    this.accountsAs = new OnBehalfClient(config.ACCOUNTS_URL, secret);
    this.catalogAs = new OnBehalfClient(config.CATALOG_URL, secret);
  }

  /** Throws NOT_FOUND unless the caller (a portal) can see the player in accounts. */
  async assertPlayerVisible(
    principal: Extract<Principal, { kind: 'portal' }>,
    playerId: string,
  ): Promise<void> {
    if (this.playerMerchant.get(playerId) === principal.merchantId) return;
    await this.accountsAs.request(principal, `query ($id: ID!) { player(id: $id) { id } }`, {
      id: playerId,
    });
    if (this.playerMerchant.size > 100_000) this.playerMerchant.clear();
    this.playerMerchant.set(playerId, principal.merchantId);
  }

  /** Every merchant with its virtual currency, read as the calling admin. */
  async merchants(principal: Principal): Promise<MerchantInfo[]> {
    const data = await this.accountsAs.request<{ merchants: MerchantInfo[] }>(
      principal,
      `{ merchants { id virtualCurrency } }`,
    );
    return data.merchants;
  }

  /** The merchant's services (id, active), read as the calling admin. */
  async services(
    principal: Principal,
    merchantId: string,
  ): Promise<{ id: string; active: boolean }[]> {
    const data = await this.catalogAs.request<{ services: { id: string; active: boolean }[] }>(
      principal,
      `query ($merchantId: ID) { services(merchantId: $merchantId) { id active } }`,
      { merchantId },
    );
    return data.services;
  }

  async close(): Promise<void> {
    await Promise.all([
      this.accounts.close(),
      this.billing.close(),
      this.accountsAs.close(),
      this.catalogAs.close(),
    ]);
  }
}
