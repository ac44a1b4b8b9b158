import { composeServices } from '@apollo/composition';
import { parse, printSchema } from 'graphql';
import { DEFAULT_PORTS, type SubgraphName } from '@coinslot/kernel';

export interface SubgraphSdl {
  name: SubgraphName;
  sdl: string;
}

/** Composes subgraph SDLs into the supergraph and the API schema clients see. */
export function composeSupergraph(subgraphs: SubgraphSdl[]): {
  supergraphSdl: string;
  apiSdl: string;
} {
  const result = composeServices(
    subgraphs.map((s) => ({
      name: s.name,
      typeDefs: parse(s.sdl),
      url: `http://127.0.0.1:${DEFAULT_PORTS[s.name]}/graphql`,
    })),
  );
  if (result.errors?.length || !result.schema || !result.supergraphSdl) {
    throw new Error(
      `Composition failed:\n${(result.errors ?? []).map((e) => `  ${e.message}`).join('\n')}`,
    );
  }
  const apiSdl = printSchema(result.schema.toAPISchema().toGraphQLJSSchema());
  return { supergraphSdl: result.supergraphSdl, apiSdl };
}
