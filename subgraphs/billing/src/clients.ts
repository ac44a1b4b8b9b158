/**
 * Billing's commands and reads to the other subgraphs, each through the owner's own GraphQL
 * endpoint with a service-signed context (kernel InternalClient). Every call here is either a
 * read or idempotent on an id billing chooses, so a retry never does anything twice.
 */
import { InternalClient } from '@coinslot/kernel';
import type { Config } from './config';
import type { CountryRules } from './domain/rules';

const SERVICE = 'billing';

export interface PlayerFacts {
  id: string;
  merchantId: string;
  externalRef: string;
  country: string;
  msisdn: string | null;
  timezone: string | null;
  locale: string | null;
}

export interface PriceFacts {
  id: string;
  merchantId: string;
  country: string;
  channelKind: 'CARRIER_BILLING' | 'PREMIUM_SMS' | 'CARD' | 'WALLET';
  currency: string;
  amount: { amountMinor: string; currency: string };
  purchasable: boolean;
  variantId: string | null;
  variantSku: string | null;
  productId: string | null;
  productKind: 'COIN_PACK' | 'ITEM' | 'SERVICE_ACCESS' | null;
  walletCredit: { amountMinor: string; currency: string } | null;
  accessDays: number | null;
  serviceId: string | null;
  planId: string | null;
  planInterval: string | null;
  planIntervalCount: number | null;
  scratchCardBatchId: string | null;
}

export interface CountryFacts {
  code: string;
  timezones: string[];
  rules: CountryRules | null;
}

export interface RoutedChannel {
  id: string;
  code: string;
  kind: string;
  capabilities: { consent: string[]; executedBy: string; refunds: string };
}

export interface RunOutcome {
  kind: 'SUCCEEDED' | 'PENDING' | 'DECLINED' | 'UNKNOWN';
  final: boolean;
  completion: string | null;
  declineCode: string | null;
  providerRef: string | null;
  actionKind: 'OTP' | 'REDIRECT' | null;
  actionUrl: string | null;
  attemptsLeft: number | null;
}

export interface ProcedureRun {
  id: string;
  reference: string;
  procedure: string;
  channelId: string;
  channelCode: string;
  channelKind: string;
  version: number;
  amount: { amountMinor: string; currency: string };
  outcome: RunOutcome;
}

export interface RunProcedureInput {
  reference: string;
  procedure: 'CHARGE' | 'REFUND' | 'CONSENT' | 'STATUS';
  merchantId: string;
  channelKind?: string | null;
  channelId?: string | null;
  country?: string | null;
  msisdn?: string | null;
  cardToken?: string | null;
  amountMinor: string;
  currency: string;
  description?: string | null;
  returnUrl?: string | null;
  otp?: string | null;
  chargeReference?: string | null;
  full?: boolean | null;
}

export interface LedgerTransfer {
  id: string;
  state: string;
}

const RUN_FIELDS = `id reference procedure channelId channelCode channelKind version amount { amountMinor currency }
  outcome { kind final completion declineCode providerRef actionKind actionUrl attemptsLeft }`;

export class Clients {
  readonly accounts: InternalClient;
  readonly catalog: InternalClient;
  readonly channels: InternalClient;
  readonly scratchCards: InternalClient;
  /** Ledger account ids never change once opened. */
  private readonly accountIds = new Map<string, string>();
  /** Country rules change rarely (an admin edit): a short cache keeps them off the hot path. */
  private readonly countries = new Map<string, { at: number; value: CountryFacts | null }>();

  constructor(
    config: Pick<
      Config,
      | 'ACCOUNTS_URL'
      | 'CATALOG_URL'
      | 'CHANNELS_URL'
      | 'SCRATCH_CARDS_URL'
      | 'INTERNAL_CONTEXT_SECRET'
    >,
  ) {
    const secret = config.INTERNAL_CONTEXT_SECRET;
    this.accounts = new InternalClient({
      url: config.ACCOUNTS_URL,
      service: SERVICE,
      secret,
      timeoutMs: 15_000,
    });
    this.catalog = new InternalClient({
      url: config.CATALOG_URL,
      service: SERVICE,
      secret,
      timeoutMs: 15_000,
    });
    // A charge may wait for a slow carrier (the channel's own timeout is shorter than this).
    this.channels = new InternalClient({
      url: config.CHANNELS_URL,
      service: SERVICE,
      secret,
      timeoutMs: 60_000,
    });
    this.scratchCards = new InternalClient({
      url: config.SCRATCH_CARDS_URL,
      service: SERVICE,
      secret,
      timeoutMs: 15_000,
    });
  }

  // ------------------------------------------------------------------------------ accounts

  async player(id: string): Promise<PlayerFacts | null> {
    const data = await this.accounts.request<{ _player: PlayerFacts | null }>(
      `query ($id: ID!) { _player(id: $id) { id merchantId externalRef country msisdn timezone locale } }`,
      { id },
    );
    return data._player;
  }

  /** Finds or opens a ledger account (cached: ids never change). */
  async ledgerAccount(owner: {
    kind: string;
    currency: string;
    merchantId: string;
    playerId?: string | null;
  }): Promise<string> {
    const cacheKey = `${owner.kind}:${owner.currency}:${owner.merchantId}:${owner.playerId ?? ''}`;
    const hit = this.accountIds.get(cacheKey);
    if (hit) return hit;
    const data = await this.accounts.request<{ _ledgerAccount: { id: string } }>(
      `mutation ($input: LedgerAccountInput!) { _ledgerAccount(input: $input) { id } }`,
      {
        input: {
          kind: owner.kind,
          currency: owner.currency,
          merchantId: owner.merchantId,
          playerId: owner.playerId ?? null,
        },
      },
    );
    if (this.accountIds.size > 200_000) this.accountIds.clear();
    this.accountIds.set(cacheKey, data._ledgerAccount.id);
    return data._ledgerAccount.id;
  }

  /** A transfer idempotent on its id: the same id again returns the stored transfer. */
  async transfer(input: {
    id: string;
    debitAccountId: string;
    creditAccountId: string;
    amount: bigint;
    currency: string;
    kind: string;
    reference: string;
    pending?: boolean;
  }): Promise<LedgerTransfer> {
    const data = await this.accounts.request<{ _ledgerTransfer: LedgerTransfer }>(
      `mutation ($input: LedgerTransferInput!) { _ledgerTransfer(input: $input) { id state } }`,
      {
        input: {
          id: input.id,
          debitAccountId: input.debitAccountId,
          creditAccountId: input.creditAccountId,
          amountMinor: input.amount.toString(),
          currency: input.currency,
          kind: input.kind,
          reference: input.reference,
          pending: input.pending ?? false,
        },
      },
    );
    return data._ledgerTransfer;
  }

  async postTransfer(id: string): Promise<LedgerTransfer> {
    const data = await this.accounts.request<{ _ledgerPost: LedgerTransfer }>(
      `mutation ($id: ID!) { _ledgerPost(id: $id) { id state } }`,
      { id },
    );
    return data._ledgerPost;
  }

  async voidTransfer(id: string): Promise<LedgerTransfer> {
    const data = await this.accounts.request<{ _ledgerVoid: LedgerTransfer }>(
      `mutation ($id: ID!) { _ledgerVoid(id: $id) { id state } }`,
      { id },
    );
    return data._ledgerVoid;
  }

  // ------------------------------------------------------------------------------- catalog

  async price(id: string): Promise<PriceFacts | null> {
    const data = await this.catalog.request<{ _price: PriceFacts | null }>(
      `query ($id: ID!) { _price(id: $id) {
        id merchantId country channelKind currency amount { amountMinor currency } purchasable
        variantId variantSku productId productKind walletCredit { amountMinor currency } accessDays
        serviceId planId planInterval planIntervalCount scratchCardBatchId
      } }`,
      { id },
    );
    return data._price;
  }

  async country(code: string): Promise<CountryFacts | null> {
    const hit = this.countries.get(code);
    if (hit && Date.now() - hit.at < 30_000) return hit.value;
    const data = await this.catalog.request<{
      country: {
        code: string;
        timezones: string[];
        rules: {
          currency: string;
          maxPerTransaction: { amountMinor: string } | null;
          maxPerDay: { amountMinor: string } | null;
          maxPerMonth: { amountMinor: string } | null;
          consentRequired: boolean;
          chargingHourFrom: number | null;
          chargingHourTo: number | null;
        } | null;
      } | null;
    }>(
      `query ($code: String!) { country(code: $code) { code timezones rules {
        currency maxPerTransaction { amountMinor } maxPerDay { amountMinor } maxPerMonth { amountMinor }
        consentRequired chargingHourFrom chargingHourTo } } }`,
      { code },
    );
    const c = data.country;
    const cap = (m: { amountMinor: string } | null) => (m ? BigInt(m.amountMinor) : null);
    const value: CountryFacts | null = c && {
      code: c.code,
      timezones: c.timezones,
      rules: c.rules && {
        currency: c.rules.currency,
        maxPerTransaction: cap(c.rules.maxPerTransaction),
        maxPerDay: cap(c.rules.maxPerDay),
        maxPerMonth: cap(c.rules.maxPerMonth),
        consentRequired: c.rules.consentRequired,
        chargingHourFrom: c.rules.chargingHourFrom,
        chargingHourTo: c.rules.chargingHourTo,
      },
    };
    this.countries.set(code, { at: Date.now(), value });
    return value;
  }

  // ------------------------------------------------------------------------------ channels

  /** The channels routing would try, in order (includes the wallet, which billing runs). */
  async route(input: {
    merchantId: string;
    channelKind: string;
    country: string;
    currency: string;
    msisdn?: string | null;
    channelId?: string | null;
  }): Promise<RoutedChannel[]> {
    const data = await this.channels.request<{ _routeChannels: RoutedChannel[] }>(
      `query ($input: RouteChannelsInput!) { _routeChannels(input: $input) { id code kind capabilities { consent executedBy refunds } } }`,
      { input: { ...input, procedure: 'CHARGE' } },
    );
    return data._routeChannels;
  }

  async runProcedure(input: RunProcedureInput): Promise<ProcedureRun> {
    const data = await this.channels.request<{ _runProcedure: ProcedureRun }>(
      `mutation ($input: RunProcedureInput!) { _runProcedure(input: $input) { ${RUN_FIELDS} } }`,
      { input },
    );
    return data._runProcedure;
  }

  async procedureRun(reference: string): Promise<ProcedureRun | null> {
    const data = await this.channels.request<{ _procedureRun: ProcedureRun | null }>(
      `query ($reference: String!) { _procedureRun(reference: $reference) { ${RUN_FIELDS} } }`,
      { reference },
    );
    return data._procedureRun;
  }

  // ------------------------------------------------------------------------- scratch-cards

  /** Sells the next card of a virtual batch to a payment; idempotent on the payment id. */
  async issueVirtualCard(input: {
    paymentId: string;
    merchantId: string;
    playerId: string;
    batchId: string;
  }): Promise<{
    cardId: string;
    serialNumber: string;
    activationCode: string;
    expiresAt: string | null;
  }> {
    const data = await this.scratchCards.request<{
      _issueVirtualCard: {
        cardId: string;
        serialNumber: string;
        activationCode: string;
        expiresAt: string | null;
      };
    }>(
      `mutation ($input: IssueVirtualCardInput!) { _issueVirtualCard(input: $input) { cardId serialNumber activationCode expiresAt } }`,
      { input },
    );
    return data._issueVirtualCard;
  }

  async close(): Promise<void> {
    await Promise.all([
      this.accounts.close(),
      this.catalog.close(),
      this.channels.close(),
      this.scratchCards.close(),
    ]);
  }
}
