import { ProcedureNotSupported } from '../types';
import { factory } from './adapter';

describe('wallet channel (executed by billing)', () => {
  it('declares what billing runs against the ledger, and refuses to run anything itself', async () => {
    expect(factory.capabilities).toMatchObject({
      protocol: 'WALLET',
      kind: 'WALLET',
      executedBy: 'billing',
    });
    expect([...factory.capabilities.procedures].sort()).toEqual(['BALANCE', 'CHARGE', 'REFUND']);
    const adapter = await factory.create(
      { baseUrl: 'wallet:', credentials: {}, timeoutMs: 1 },
      { record: () => undefined, emit: () => undefined },
    );
    await expect(
      adapter.charge({ reference: 'W1', amount: 100n, currency: 'GEMS', description: 'x' }),
    ).rejects.toBeInstanceOf(ProcedureNotSupported);
    await expect(adapter.status({ reference: 'W1' })).rejects.toBeInstanceOf(ProcedureNotSupported);
    await adapter.close();
  });
});
