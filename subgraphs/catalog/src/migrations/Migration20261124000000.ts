import { Migration } from '@coinslot/kernel';

/**
 * A variant may be sold as a virtual scratch card: its batch (owned by scratch-cards, a plain
 * foreign id) is issued one card per payment when billing delivers the purchase.
 */
export class Migration20261124000000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table catalog.variant add column scratch_card_batch_id uuid`);
  }
}
