/**
 * `npm run schema:write` regenerates schema/ from the code; `npm run schema:check` regenerates
 * in memory and fails on any difference (the committed files are what the gateway serves).
 */
import fs from 'node:fs';
import path from 'node:path';
import { composeSupergraph } from '../gateway/src/compose';
import { buildAllSubgraphSdl } from './lib/schemas';

export const SCHEMA_DIR = path.join(__dirname, '..', 'schema');

export async function generateSchemaFiles(): Promise<Map<string, string>> {
  const subgraphs = await buildAllSubgraphSdl();
  const { supergraphSdl, apiSdl } = composeSupergraph(subgraphs);
  const files = new Map<string, string>();
  for (const s of subgraphs) files.set(`subgraphs/${s.name}.graphql`, s.sdl.trimEnd() + '\n');
  files.set('supergraph.graphql', supergraphSdl.trimEnd() + '\n');
  files.set('api.graphql', apiSdl.trimEnd() + '\n');
  return files;
}

async function main(mode: string | undefined): Promise<void> {
  const files = await generateSchemaFiles();
  const stale: string[] = [];
  for (const [rel, content] of files) {
    const file = path.join(SCHEMA_DIR, rel);
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
    if (current === content) continue;
    if (mode === 'write') {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
      console.log(`wrote schema/${rel}`);
    } else {
      stale.push(rel);
    }
  }
  if (stale.length) {
    console.error(
      `schema/ is out of date: ${stale.join(', ')}. Run npm run schema:write and commit.`,
    );
    process.exit(1);
  }
  if (mode !== 'write') console.log('schema/ is up to date');
}

if (require.main === module) {
  main(process.argv[2]).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
