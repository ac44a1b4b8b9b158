import fs from 'node:fs';
import path from 'node:path';
import { Kind, parse, print, type OperationDefinitionNode } from 'graphql';

const document = parse(
  fs.readFileSync(
    path.join(__dirname, '..', '..', 'schema', 'operations', 'portal.graphql'),
    'utf8',
  ),
);

/** The exact text of one contract operation, so end-to-end tests send what clients send. */
export function contractOperation(name: string): string {
  const op = document.definitions.find(
    (d): d is OperationDefinitionNode =>
      d.kind === Kind.OPERATION_DEFINITION && d.name?.value === name,
  );
  if (!op) throw new Error(`no contract operation ${name}`);
  return print(op);
}
