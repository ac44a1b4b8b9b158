import 'reflect-metadata';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { parse, type GraphQLSchema } from 'graphql';
import { buildSchema, createResolversMap, type BuildSchemaOptions } from 'type-graphql';

export const FEDERATION_IMPORTS = [
  '@key',
  '@shareable',
  '@inaccessible',
  '@external',
  '@requires',
  '@provides',
] as const;

export type ReferenceResolvers = Record<
  string,
  { __resolveReference: (reference: never, context: never) => unknown }
>;

export interface FederatedSchema {
  schema: GraphQLSchema;
  /** The subgraph SDL with its @link, as written to schema/subgraphs/<name>.graphql. */
  sdl: string;
}

/**
 * The one place that turns a type-graphql schema into a Federation 2 subgraph:
 * build (skipCheck: a subgraph may have no Query of its own), print with directives,
 * prepend the @link, merge the resolvers with each entity's __resolveReference.
 */
export async function buildFederatedSchema(
  options: Omit<BuildSchemaOptions, 'skipCheck'>,
  references: ReferenceResolvers = {},
): Promise<FederatedSchema> {
  const typeGraphqlSchema = await buildSchema({
    validate: { forbidUnknownValues: false },
    ...options,
    skipCheck: true,
  });
  const imports = FEDERATION_IMPORTS.map((d) => `"${d}"`).join(', ');
  const sdl =
    `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: [${imports}])\n\n` +
    printSchemaWithDirectives(typeGraphqlSchema);
  const resolvers = createResolversMap(typeGraphqlSchema) as GraphQLResolverMap<unknown>;
  for (const [typeName, reference] of Object.entries(references)) {
    resolvers[typeName] = { ...(resolvers[typeName] as object), ...reference } as never;
  }
  const schema = buildSubgraphSchema({ typeDefs: parse(sdl), resolvers });
  return { schema, sdl };
}
