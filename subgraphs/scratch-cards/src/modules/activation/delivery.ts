import { pgArray, query, type EntityManager, type InternalClient } from '@coinslot/kernel';
import type { BatchRow, CardRow } from '../../rows';

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
 * Delivers cards' values, idempotently, so the inline attempt and the sweep can both run: coins
 * are ledger transfers whose id is the card's activation id (accounts ignores a replay); service
 * time is billing's _grantEntitlement with the activation id as idempotency key.
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
   * replay moves nothing twice), service time one grant per card. Never throws: each card gets its
   * Delivered or the error that stopped it (the sweep delivers it later).
   */
  async deliverMany(values: readonly RedeemedValue[]): Promise<Map<string, Delivered | Error>> {
    const out = new Map<string, Delivered | Error>();
    const coins = values.filter((v) => v.creditAmount !== null && v.creditCurrency);
    const rest = values.filter((v) => !(v.creditAmount !== null && v.creditCurrency));
    const grants = Promise.all(
      rest.map(async (v) => {
        try {
          if (!v.serviceId || !v.accessDays) throw new Error(`card ${v.cardId} carries no value`);
          out.set(v.cardId, await this.grant(v, v.serviceId, v.accessDays));
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

  /** One card's value (the per-card jobs queued by earlier versions). */
  async deliver(v: RedeemedValue): Promise<Delivered> {
    const d = (await this.deliverMany([v])).get(v.cardId)!;
    if (d instanceof Error) throw d;
    return d;
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

/**
 * Records the deliveries that succeeded in `outcome` (deliverMany's answer) in one statement,
 * and takes those cards out of the delivery outbox.
 */
export async function markDelivered(
  em: EntityManager,
  outcome: ReadonlyMap<string, Delivered | Error>,
): Promise<void> {
  const done = [...outcome].filter((e): e is [string, Delivered] => !(e[1] instanceof Error));
  if (done.length === 0) return;
  const ids = pgArray(done.map(([cardId]) => cardId));
  await query(
    em,
    `with done as (
       update scratch_cards.card c set delivered_at = now(), delivery_ref = x.ref
         from unnest(?::uuid[], ?::text[]) as x(id, ref)
        where c.id = x.id and c.delivered_at is null
       returning c.id)
     delete from scratch_cards.card_delivery_due d using unnest(?::uuid[]) as x(id) where d.card_id = x.id`,
    [ids, pgArray(done.map(([, d]) => d.ref)), ids],
  );
}

/** A redeemed card row, with its batch's value. */
export type OwedRow = CardRow &
  Pick<BatchRow, 'credit_amount' | 'credit_currency' | 'service_id' | 'access_days'>;

/** What a redeemed card owes, and to whom. */
export function owedBy(row: OwedRow): RedeemedValue {
  return {
    cardId: row.id,
    activationId: row.activation_id!,
    serialNumber: row.serial_number,
    merchantId: row.merchant_id,
    playerId: row.redeemed_by!,
    creditAmount: row.credit_amount !== null ? BigInt(row.credit_amount) : null,
    creditCurrency: row.credit_currency,
    serviceId: row.service_id,
    accessDays: row.access_days,
  };
}
