import type { MigrationObject } from '@coinslot/kernel';
import { Migration20261121000000 } from './Migration20261121000000';

export const migrations: MigrationObject[] = [
  { name: 'Migration20261121000000', class: Migration20261121000000 },
];
