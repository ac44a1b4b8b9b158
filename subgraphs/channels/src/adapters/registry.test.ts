import fs from 'node:fs';
import path from 'node:path';
import { ADAPTERS } from './registry';

describe('adapter registry', () => {
  it('registers every adapter folder, under its own code', () => {
    const folders = fs
      .readdirSync(__dirname, { withFileTypes: true })
      .filter((d) => d.isDirectory() && fs.existsSync(path.join(__dirname, d.name, 'adapter.ts')))
      .map((d) => d.name)
      .sort();
    expect(Object.keys(ADAPTERS).sort()).toEqual(folders);
    for (const [code, factory] of Object.entries(ADAPTERS)) expect(factory.code).toBe(code);
  });
});
