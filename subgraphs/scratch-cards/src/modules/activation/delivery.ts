import { pgArray, query, type EntityManager, type InternalClient } from '@coinslot/kernel';

/** What a redeemed card owes its player. */
export interface RedeemedValue {
  cardId: string;
  activationId: string;
  serialNumber: string;
  merchantId: string;
  playerId: string;
  creditAmount: bigint | null;
  creditCurrency: string | null;
  serviceId: string | null;
  accessDays: number | null;
}

export interface Delivered {
  /** The ledger transfer id (= activation id) or the entitlement id. */
  ref: string;
  entitlementId: string | null;
}

/** Ledger account kinds in accounts (subgraphs/accounts/src/modules/ledger/ledger.service.ts). */
const COINS_ISSUED = 'coins_issued';
const PLAYER_WALLET = 'player_wallet';
export const TRANSFER_KIND = 'scratch_card';

const ACCOUNTS = `mutation ($issued: LedgerAccountInput!, $wallet: LedgerAccountInput!) {
  issued: _ledgerAccount(input: $issued) { id }
  wallet: _ledgerAccount(input: $wallet) { id }
}`;
const TRANSFER = `mutation ($input: LedgerTransferInput!) { _ledgerTransfer(input: $input) { id state } }`;
const TRANSFERS = `mutation ($inputs: [LedgerTransferInput!]!) { _ledgerTransfers(inputs: $inputs) { id } }`;
/** accounts takes at most this many transfers per call. */
const TRANSFERS_PER_CALL = 1_000;

interface AccountOwner {
  kind: string;
  currency: string;
  merchantId: string;
  playerId: string | null;
}
const ownerKey = (o: AccountOwner) => `${o.kind}:${o.currency}:${o.merchantId}:${o.playerId ?? ''}`;
// The input object is written inline, so the call does not depend on the name billing gives its input type.
const GRANT = `mutation ($key: String!, $merchantId: ID!, $playerId: ID!, $serviceId: ID!, $days: Int!) {
  _grantEntitlement(input: { idempotencyKey: $key, merchantId: $merchantId, playerId: $playerId, serviceId: $serviceId, days: $days }) {
    id validUntil
  }
}`;

/**
 * Delivers a card's value, idempotently, so the inline attempt and the backing job can both run:
 * coins are one ledger transfer whose id is the card's activation id (accounts ignores a replay);
 * service time is billing's _grantEntitlement with the activation id as idempotency key.
 */
export class Delivery {
  /** Ledger account ids never change once opened. */
  private readonly accountIds = new Map<string, string>();

  constructor(
    private readonly accounts: InternalClient,
    private readonly billing: InternalClient,
  ) {}

  /**
   * Delivers many cards' values at once: the ledger accounts not yet known in one call, all the
   * coin credits as one `_ledgerTransfers` call (each transfer keyed by its activation id, so a
   * replay moves nothing twice), service time one grant per card. Each card gets its Delivered or
   * the error that stopped it (its backing job delivers it later).
   */
  async deliverMany(values: readonly RedeemedValue[]): Promise<Map<string, Delivered | Error>> {
    const out = new Map<string, Delivered | Error>();
    const coins = values.filter((v) => v.creditAmount !== null && v.creditCurrency);
    const rest = values.filter((v) => !(v.creditAmount !== null && v.creditCurrency));
    const grants = Promise.all(
      rest.map(async (v) => {
        try {
          out.set(v.cardId, await this.deliver(v));
        } catch (err) {
          out.set(v.cardId, err as Error);
        }
      }),
    );
    for (let i = 0; i < coins.length; i += TRANSFERS_PER_CALL) {
      const chunk = coins.slice(i, i + TRANSFERS_PER_CALL);
      try {
        const owners = chunk.flatMap((v) => [
          issuedOwner(v.creditCurrency!, v.merchantId),
          walletOwner(v.creditCurrency!, v.merchantId, v.playerId),
        ]);
        const ids = await this.accountIdsFor(owners);
        await this.accounts.request(TRANSFERS, {
          inputs: chunk.map((v) => ({
            id: v.activationId,
            debitAccountId: ids.get(ownerKey(issuedOwner(v.creditCurrency!, v.merchantId))),
            creditAccountId: ids.get(
              ownerKey(walletOwner(v.creditCurrency!, v.merchantId, v.playerId)),
            ),
            amountMinor: v.creditAmount!.toString(),
            currency: v.creditCurrency,
            kind: TRANSFER_KIND,
            reference: v.serialNumber,
            pending: false,
          })),
        });
        for (const v of chunk) out.set(v.cardId, { ref: v.activationId, entitlementId: null });
      } catch (err) {
        for (const v of chunk) out.set(v.cardId, err as Error);
      }
    }
    await grants;
    return out;
  }

  /** Ledger account ids by owner; the unknown ones opened or found in one call. */
  private async accountIdsFor(owners: AccountOwner[]): Promise<Map<string, string>> {
    const ids = new Map<string, string>();
    const missing = new Map<string, AccountOwner>();
    for (const o of owners) {
      const key = ownerKey(o);
      const id = this.accountIds.get(key);
      if (id) ids.set(key, id);
      else missing.set(key, o);
    }
    if (missing.size === 0) return ids;
    const list = [...missing.entries()];
    const vars = list.map((_, i) => `$a${i}: LedgerAccountInput!`).join(', ');
    const fields = list.map((_, i) => `a${i}: _ledgerAccount(input: $a${i}) { id }`).join(' ');
    const data = await this.accounts.request<Record<string, { id: string }>>(
      `mutation (${vars}) { ${fields} }`,
      Object.fromEntries(list.map(([, o], i) => [`a${i}`, o])),
    );
    if (this.accountIds.size > 200_000) this.accountIds.clear();
    list.forEach(([key], i) => {
      const id = data[`a${i}`]!.id;
      this.accountIds.set(key, id);
      ids.set(key, id);
    });
    return ids;
  }

  async deliver(v: RedeemedValue): Promise<Delivered> {
    if (v.creditAmount !== null && v.creditCurrency)
      return this.credit(v, v.creditAmount, v.creditCurrency);
    if (v.serviceId && v.accessDays) return this.grant(v, v.serviceId, v.accessDays);
    throw new Error(`card ${v.cardId} carries no value`);
  }

  private async credit(v: RedeemedValue, amount: bigint, currency: string): Promise<Delivered> {
    const issuedKey = `${COINS_ISSUED}:${currency}:${v.merchantId}`;
    const walletKey = `${PLAYER_WALLET}:${currency}:${v.merchantId}:${v.playerId}`;
    let issued = this.accountIds.get(issuedKey);
    let wallet = this.accountIds.get(walletKey);
    if (!issued || !wallet) {
      const data = await this.accounts.request<{ issued: { id: string }; wallet: { id: string } }>(
        ACCOUNTS,
        {
          issued: { kind: COINS_ISSUED, currency, merchantId: v.merchantId, playerId: null },
          wallet: { kind: PLAYER_WALLET, currency, merchantId: v.merchantId, playerId: v.playerId },
        },
      );
      issued = data.issued.id;
      wallet = data.wallet.id;
      if (this.accountIds.size > 200_000) this.accountIds.clear();
      this.accountIds.set(issuedKey, issued);
      this.accountIds.set(walletKey, wallet);
    }
    const data = await this.accounts.request<{ _ledgerTransfer: { id: string; state: string } }>(
      TRANSFER,
      {
        input: {
          id: v.activationId,
          debitAccountId: issued,
          creditAccountId: wallet,
          amountMinor: amount.toString(),
          currency,
          kind: TRANSFER_KIND,
          reference: v.serialNumber,
          pending: false,
        },
      },
    );
    return { ref: data._ledgerTransfer.id, entitlementId: null };
  }

  private async grant(v: RedeemedValue, serviceId: string, days: number): Promise<Delivered> {
    const data = await this.billing.request<{
      _grantEntitlement: { id: string; validUntil: string } | null;
    }>(GRANT, {
      key: `scratch-card:${v.activationId}`,
      merchantId: v.merchantId,
      playerId: v.playerId,
      serviceId,
      days,
    });
    if (!data._grantEntitlement)
      throw new Error(`billing granted no entitlement for card ${v.cardId}`);
    return { ref: data._grantEntitlement.id, entitlementId: data._grantEntitlement.id };
  }
}

const issuedOwner = (currency: string, merchantId: string): AccountOwner => ({
  kind: COINS_ISSUED,
  currency,
  merchantId,
  playerId: null,
});
const walletOwner = (currency: string, merchantId: string, playerId: string): AccountOwner => ({
  kind: PLAYER_WALLET,
  currency,
  merchantId,
  playerId,
});

/** Records many deliveries in one statement, and takes them out of the delivery outbox. */
export async function markDeliveredMany(
  em: EntityManager,
  delivered: readonly { cardId: string; ref: string }[],
): Promise<void> {
  if (delivered.length === 0) return;
  await query(
    em,
    `with done as (
       update scratch_cards.card c set delivered_at = now(), delivery_ref = x.ref
         from unnest(?::uuid[], ?::text[]) as x(id, ref)
        where c.id = x.id and c.delivered_at is null
       returning c.id)
     delete from scratch_cards.card_delivery_due d using unnest(?::uuid[]) as x(id) where d.card_id = x.id`,
    [
      pgArray(delivered.map((d) => d.cardId)),
      pgArray(delivered.map((d) => d.ref)),
      pgArray(delivered.map((d) => d.cardId)),
    ],
  );
}

/** Records one delivery (the per-card jobs queued by earlier versions). */
export async function markDelivered(em: EntityManager, cardId: string, ref: string): Promise<void> {
  await markDeliveredMany(em, [{ cardId, ref }]);
}
