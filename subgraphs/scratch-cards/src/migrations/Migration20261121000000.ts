import { Migration, auditLogMigrationSql } from '@coinslot/kernel';

export class Migration20261121000000 extends Migration {
  override async up(): Promise<void> {
    for (const sql of auditLogMigrationSql('scratch_cards')) this.addSql(sql);
  }
}
