import {
  conflict,
  notFound,
  query,
  recordAudit,
  type EntityManager,
  type Principal,
} from '@coinslot/kernel';
import { parseSerialNumber } from '../../codes/format';
import { SCHEMA } from '../../database';
import { effectiveStatus, type BatchRow, type CardRow, type Ts } from '../../rows';
import { eraseSpentChunk } from '../virtual/virtual.service';

export type CardWithBatch = CardRow & {
  batch_expires_at: Ts | null;
  batch_status: BatchRow['status'];
};

export class CardService {
  async bySerial(em: EntityManager, serial: string): Promise<CardWithBatch | null> {
    const s = parseSerialNumber(serial);
    if (!s) return null;
    const [row] = await query<CardWithBatch>(
      em,
      `select c.*, b.expires_at as batch_expires_at, b.status as batch_status
         from scratch_cards.card c join scratch_cards.batch b on b.id = c.batch_id where c.serial_number = ?`,
      [s],
    );
    return row ?? null;
  }

  /** Voids one card (lost, stolen, misprinted). A used card stays used. */
  async void(em: EntityManager, principal: Principal, serial: string): Promise<CardWithBatch> {
    return em.transactional(async (tx) => {
      const s = parseSerialNumber(serial);
      if (!s) throw notFound('Scratch card');
      const [card] = await query<CardWithBatch>(
        tx,
        `select c.*, b.expires_at as batch_expires_at, b.status as batch_status
           from scratch_cards.card c join scratch_cards.batch b on b.id = c.batch_id
          where c.serial_number = ? for update of c`,
        [s],
      );
      if (!card) throw notFound('Scratch card');
      const status = effectiveStatus(card, { expires_at: card.batch_expires_at });
      if (status === 'REDEEMED')
        throw conflict('The card has already been activated; it cannot be voided.');
      if (status === 'VOIDED') throw conflict('The card is already voided.');
      if (status === 'EXPIRED') throw conflict('The card has expired.');
      const [row] = await query<CardRow>(
        tx,
        `update scratch_cards.card set status = 'VOIDED', voided_at = now() where id = ? returning *`,
        [card.id],
      );
      if (card.for_sale) await eraseSpentChunk(tx, card.batch_id, card.running);
      await recordAudit(tx, SCHEMA, principal, {
        action: 'card.void',
        targetType: 'ScratchCard',
        targetId: card.id,
        outcome: 'succeeded',
        details: { serialNumber: s, previousStatus: card.status },
      });
      return { ...card, ...row! };
    });
  }
}

export const cards = new CardService();
