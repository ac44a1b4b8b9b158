import {
  AppError,
  ErrorCode,
  badInput,
  conflict,
  isUuid,
  notFound,
  query,
  recordAudit,
  type EntityManager,
  type Principal,
} from '@coinslot/kernel';
import { CodeCodec } from '../../codes/format';
import type { Vault } from '../../codes/crypto';
import { SCHEMA } from '../../database';
import { batchFormat, isExpired, type BatchRow, type CardRow } from '../../rows';

export interface IssueInput {
  paymentId: string;
  merchantId: string;
  playerId: string;
  batchId: string;
}

export interface Issued {
  card: CardRow;
  batch: BatchRow;
  activationCode: string;
}

/**
 * Virtual cards are sold one at a time. Issue is idempotent on the payment: the same payment
 * always gets the same card (a unique index on sold_to_payment_id settles concurrent calls), and
 * concurrent payments take different cards (FOR UPDATE SKIP LOCKED on the batch's stock).
 *
 * The clear code comes from the vault at issue time. A virtual batch keeps its vault (sealed,
 * AES-256-GCM) while any card of a chunk can still be issued or shown again to the payment that
 * bought it — i.e. until every card of the chunk is redeemed, voided or expired; then the chunk
 * is erased (eraseSpentChunk). Voiding or expiring the batch erases the whole vault.
 */
export class VirtualCardService {
  constructor(private readonly vault: Vault) {}

  async issue(em: EntityManager, principal: Principal, input: IssueInput): Promise<Issued> {
    for (const field of ['paymentId', 'merchantId', 'playerId', 'batchId'] as const) {
      if (!isUuid(input[field])) throw badInput(`${field} must be a UUID.`, field);
    }
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.tryIssue(em, principal, input);
      } catch (err) {
        // Two first calls for one payment raced: the loser finds the winner's card next time.
        if ((err as { code?: string }).code === '23505' && attempt < 3) continue;
        throw err;
      }
    }
  }

  private async tryIssue(
    em: EntityManager,
    principal: Principal,
    input: IssueInput,
  ): Promise<Issued> {
    const { card, batch } = await em.transactional(async (tx) => {
      const [existing] = await query<CardRow>(
        tx,
        `select * from scratch_cards.card where sold_to_payment_id = ?`,
        [input.paymentId],
      );
      if (existing) {
        if (
          existing.batch_id !== input.batchId ||
          existing.merchant_id !== input.merchantId ||
          existing.sold_to_player_id !== input.playerId
        ) {
          throw new AppError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            `Payment ${input.paymentId} already has a card of another batch or player.`,
          );
        }
        const [b] = await query<BatchRow>(tx, `select * from scratch_cards.batch where id = ?`, [
          existing.batch_id,
        ]);
        return { card: existing, batch: b! };
      }
      const [b] = await query<BatchRow>(tx, `select * from scratch_cards.batch where id = ?`, [
        input.batchId,
      ]);
      if (!b || b.merchant_id !== input.merchantId) throw notFound('Scratch card batch');
      if (b.kind !== 'VIRTUAL') throw conflict('Only virtual batches are sold one card at a time.');
      if (b.status !== 'APPROVED')
        throw conflict(`The batch is ${b.status}; only an approved batch sells cards.`);
      if (isExpired(b.expires_at)) throw conflict('The batch has expired.');
      const [free] = await query<CardRow>(
        tx,
        `select * from scratch_cards.card
          where batch_id = ? and for_sale and sold_to_payment_id is null and status = 'ACTIVE'
          order by running limit 1 for update skip locked`,
        [b.id],
      );
      if (!free) throw conflict('The batch is sold out.');
      const [sold] = await query<CardRow>(
        tx,
        `update scratch_cards.card set sold_to_payment_id = ?, sold_to_player_id = ?, sold_at = now() where id = ? returning *`,
        [input.paymentId, input.playerId, free.id],
      );
      await recordAudit(tx, SCHEMA, principal, {
        action: 'card.issue',
        targetType: 'ScratchCard',
        targetId: free.id,
        outcome: 'succeeded',
        details: {
          paymentId: input.paymentId,
          playerId: input.playerId,
          serialNumber: free.serial_number,
        },
      });
      return { card: sold!, batch: b };
    });
    const code = await this.codeOf(em, batch, card.running);
    if (!code)
      throw conflict(
        'The clear code of this card is no longer kept (the card has been used, voided or has expired).',
      );
    return { card, batch, activationCode: new CodeCodec(batchFormat(batch)).printable(code) };
  }

  private async codeOf(
    em: EntityManager,
    batch: BatchRow,
    running: number,
  ): Promise<string | null> {
    const [chunk] = await query<{
      first_running: number;
      iv: Buffer;
      tag: Buffer;
      ciphertext: Buffer;
    }>(
      em,
      `select first_running, iv, tag, ciphertext from scratch_cards.card_vault
        where batch_id = ? and first_running <= ? and first_running + card_count > ?`,
      [batch.id, running, running],
    );
    if (!chunk) return null;
    const codes = this.vault.open(batch.id, chunk.first_running, batch.code_length, chunk);
    const code = codes[running - chunk.first_running] ?? null;
    codes.length = 0;
    return code;
  }
}

/**
 * Erases the vault chunk holding `running` once no card in it is open any more (every card
 * redeemed, voided or expired). Called after a virtual card is redeemed or voided.
 */
export async function eraseSpentChunk(
  em: EntityManager,
  batchId: string,
  running: number,
): Promise<void> {
  await query(
    em,
    `delete from scratch_cards.card_vault v
      where v.batch_id = ? and v.first_running <= ? and v.first_running + v.card_count > ?
        and not exists (
          select 1 from scratch_cards.card c
           where c.batch_id = v.batch_id and c.running >= v.first_running and c.running < v.first_running + v.card_count
             and (c.status in ('INACTIVE', 'ACTIVE')))`,
    [batchId, running, running],
  );
}
