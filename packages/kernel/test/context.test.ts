import {
  InternalContextSigner,
  readInternalContext,
  signInternalContext,
  type Principal,
} from '../src/context';

const SECRET = 'a-test-secret-of-at-least-32-characters!';
const portal: Principal = { kind: 'portal', merchantId: 'm-1', portalId: 'p-1' };

describe('kernel: internal context', () => {
  afterEach(() => jest.useRealTimers());

  it('reads what the gateway signed, again from its cache, and never under another secret', async () => {
    const token = await new InternalContextSigner(SECRET).sign(portal, { clientIp: '192.0.2.7' });
    const first = await readInternalContext(token, SECRET);
    const again = await readInternalContext(token, SECRET);
    expect(first).toEqual({ principal: portal, meta: { clientIp: '192.0.2.7' } });
    expect(again).toEqual(first);
    // A cached principal cannot be altered by one request for the next.
    expect(() => {
      (again.principal as { kind: string }).kind = 'admin';
    }).toThrow();
    await expect(readInternalContext(token, `${SECRET}-other`)).rejects.toMatchObject({
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });

  it('refuses a tampered token and an expired one, even after it was read once', async () => {
    const token = await signInternalContext(portal, SECRET, 60);
    await readInternalContext(token, SECRET);
    const [h, p, s] = token.split('.');
    const forged = JSON.parse(Buffer.from(p!, 'base64url').toString());
    forged.p = { kind: 'admin', adminId: 'x', role: 'owner' };
    const tampered = `${h}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${s}`;
    await expect(readInternalContext(tampered, SECRET)).rejects.toMatchObject({
      extensions: { code: 'UNAUTHENTICATED' },
    });
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    jest.setSystemTime(Date.now() + 61_000);
    await expect(readInternalContext(token, SECRET)).rejects.toMatchObject({
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });
});
