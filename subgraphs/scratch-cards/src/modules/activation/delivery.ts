import { query, type EntityManager, type InternalClient } from '@coinslot/kernel';
import { jobSchemaName } from '../../database';

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

export const deliveryJobKey = (cardId: string) => `deliver:${cardId}`;

/** Records the delivery and drops the backing job (when it has not started; it would be a no-op anyway). */
export async function markDelivered(
  em: EntityManager,
  cardId: string,
  ref: string,
  removeJob: boolean,
): Promise<void> {
  if (removeJob) {
    await query(
      em,
      `with d as (update scratch_cards.card set delivered_at = now(), delivery_ref = ? where id = ? and delivered_at is null returning 1)
       select 1 from "${jobSchemaName}".remove_job(?::text)`,
      [ref, cardId, deliveryJobKey(cardId)],
    );
  } else {
    await query(
      em,
      `update scratch_cards.card set delivered_at = now(), delivery_ref = ? where id = ? and delivered_at is null`,
      [ref, cardId],
    );
  }
}
