import type { MigrationObject } from '@coinslot/kernel';
import { Migration20261121000000 } from './Migration20261121000000';
import { Migration20261122000000 } from './Migration20261122000000';
import { Migration20261122000100 } from './Migration20261122000100';

export const migrations: MigrationObject[] = [
  { name: 'Migration20261121000000', class: Migration20261121000000 },
  { name: 'Migration20261122000000', class: Migration20261122000000 },
  { name: 'Migration20261122000100', class: Migration20261122000100 },
];
