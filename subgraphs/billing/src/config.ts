import { z } from 'zod';
import { loadConfig, subgraphConfigSchema } from '@coinslot/kernel';

export const configSchema = subgraphConfigSchema('billing');
export type Config = z.infer<typeof configSchema>;
export const loadServiceConfig = (env = process.env) => loadConfig(configSchema, env);
