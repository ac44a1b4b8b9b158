import type { MigrationObject } from '@coinslot/kernel';
import { Migration20261121000000 } from './Migration20261121000000';
import { Migration20261123000000 } from './Migration20261123000000';
import { Migration20261126000000 } from './Migration20261126000000';

export const migrations: MigrationObject[] = [
  { name: 'Migration20261121000000', class: Migration20261121000000 },
  { name: 'Migration20261123000000', class: Migration20261123000000 },
  { name: 'Migration20261126000000', class: Migration20261126000000 },
];
