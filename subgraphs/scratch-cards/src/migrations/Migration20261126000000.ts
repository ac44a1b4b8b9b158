import { Migration } from '@coinslot/kernel';

/**
 * The delivery outbox: a row per redeemed card whose value is still owed. Activation adds it in
 * the statement that redeems the card and removes it once the value is delivered; the
 * `deliver_pending_cards` sweep (every minute) delivers what a failure or a crash left in it.
 * A small table of its own, so recording a delivery stays a HOT update of the card row (no
 * indexed column of the card changes).
 */
export class Migration20261126000000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table scratch_cards.card_delivery_due (
      card_id uuid primary key references scratch_cards.card (id),
      due_since timestamptz not null default now()
    )`);
    this.addSql(`insert into scratch_cards.card_delivery_due (card_id, due_since)
      select id, coalesce(redeemed_at, now()) from scratch_cards.card
       where status = 'REDEEMED' and delivered_at is null`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists scratch_cards.card_delivery_due`);
  }
}
