import type { z } from 'zod';
import { loadConfig, subgraphConfigSchema } from '@coinslot/kernel';

export const catalogConfigSchema = subgraphConfigSchema('catalog');
export type CatalogConfig = z.infer<typeof catalogConfigSchema>;
export const loadCatalogConfig = (env = process.env) => loadConfig(catalogConfigSchema, env);
