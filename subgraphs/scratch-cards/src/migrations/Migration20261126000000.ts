import { Migration } from '@coinslot/kernel';

/**
 * The card is its own delivery outbox: a REDEEMED card without `delivered_at` still owes its
 * value. Activation delivers at once; the `deliver_pending_cards` sweep (every minute) delivers
 * what a failure or a crash left behind, found through this small partial index.
 */
export class Migration20261126000000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create index card_undelivered_idx on scratch_cards.card (redeemed_at)
      where status = 'REDEEMED' and delivered_at is null`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists scratch_cards.card_undelivered_idx`);
  }
}
