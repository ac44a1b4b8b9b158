import type { MigrationObject } from '@coinslot/kernel';
import { Migration20261122000000 } from './Migration20261122000000';

export const migrations: MigrationObject[] = [
  { name: 'Migration20261122000000', class: Migration20261122000000 },
];
