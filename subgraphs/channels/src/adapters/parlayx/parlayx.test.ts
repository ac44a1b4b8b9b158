import { createHash } from 'node:crypto';
import { passwordDigest as soapPasswordDigest } from 'soap';
import { runConformance, startHarness, uniqueReference, resolveByStatus } from '../conformance';
import type { AdapterConfig, Interaction, Outcome } from '../types';
import type { Simulator } from '../simulator';
import { factory } from './adapter';
import { spec } from './conformance';
import { startSimulator } from './simulator';
import {
  KNOWN_FAULT_CODES,
  conditionOfFault,
  conditionOfHttpStatus,
  dispositionOf,
  fromSoapFloat,
  fromXsdDecimal,
  huaweiHeader,
  huaweiSpPassword,
  huaweiTimestamp,
  outcomeOfChargeRecord,
  parseEnvelope,
  passwordDigest,
  toXsdDecimal,
  wsseHeader,
} from './transformers';
import type { ProviderCondition, SoapFault } from './transformers';

runConformance(spec);

describe('parlayx transformers', () => {
  describe('WS-Security PasswordDigest', () => {
    // Vector computed outside this code base:
    //   (printf AAECAwQFBgcICQoLDA0ODw== | base64 -d; printf '%s%s' "$CREATED" "$PW") | openssl dgst -sha1 -binary | base64
    const nonce = 'AAECAwQFBgcICQoLDA0ODw==';
    const created = '2025-01-02T03:04:05.678Z';
    const password = 's3cr3t-pa55';

    it('matches a known vector', () => {
      expect(passwordDigest(nonce, created, password)).toBe('rcnzjsG21h++Olg5hMml2RT1KeA=');
    });

    it('matches an independent computation and node-soap', () => {
      const nonceBytes = Buffer.from(Array.from({ length: 16 }, (_, i) => i));
      const independent = createHash('sha1')
        .update(Buffer.concat([nonceBytes, Buffer.from(created + password, 'utf8')]))
        .digest('base64');
      expect(passwordDigest(nonce, created, password)).toBe(independent);
      expect(passwordDigest(nonce, created, password)).toBe(
        soapPasswordDigest(nonce, created, password),
      );
    });

    it('puts digest, nonce and created into the UsernameToken', () => {
      const header = wsseHeader('user<&>', password, nonce, created);
      expect(header).toContain('<wsse:Username>user&lt;&amp;&gt;</wsse:Username>');
      expect(header).toContain('#PasswordDigest">rcnzjsG21h++Olg5hMml2RT1KeA=</wsse:Password>');
      expect(header).toContain(`>${nonce}</wsse:Nonce>`);
      expect(header).toContain(`<wsu:Created>${created}</wsu:Created>`);
      expect(header).not.toContain(password);
    });
  });

  describe('Huawei RequestSOAPHeader', () => {
    // printf '%s' 'sp-35000001s3cr3t-pa5520250102030405' | openssl dgst -md5
    const expected = 'eb83e009c7f9335daa535ff88d3da440';

    it('computes spPassword = MD5(spId + password + timeStamp) in either case', () => {
      const ts = huaweiTimestamp(new Date(Date.UTC(2025, 0, 2, 3, 4, 5)));
      expect(ts).toBe('20250102030405');
      expect(huaweiSpPassword('sp-35000001', 's3cr3t-pa55', ts, 'lower')).toBe(expected);
      expect(huaweiSpPassword('sp-35000001', 's3cr3t-pa55', ts, 'upper')).toBe(
        expected.toUpperCase(),
      );
    });

    it('builds the header without the password', () => {
      const h = huaweiHeader({
        spId: 'sp-35000001',
        password: 's3cr3t-pa55',
        timeStamp: '20250102030405',
        serviceId: 'svc-1',
        endUser: 'tel:+447700900000',
      });
      expect(h).toContain(`<v2:spPassword>${expected.toUpperCase()}</v2:spPassword>`);
      expect(h).toContain('<v2:timeStamp>20250102030405</v2:timeStamp>');
      expect(h).toContain('<v2:serviceId>svc-1</v2:serviceId>');
      expect(h).not.toContain('s3cr3t-pa55');
    });
  });

  describe('xsd:decimal amounts', () => {
    it('formats minor units exactly, per ISO 4217 exponent', () => {
      expect(toXsdDecimal(199n, 'GBP')).toBe('1.99');
      expect(toXsdDecimal(5n, 'EUR')).toBe('0.05');
      expect(toXsdDecimal(500n, 'JPY')).toBe('500');
      expect(toXsdDecimal(1234n, 'KWD')).toBe('1.234');
      expect(toXsdDecimal(900719925474099312345n, 'GBP')).toBe('9007199254740993123.45');
      expect(() => toXsdDecimal(-1n, 'GBP')).toThrow(RangeError);
    });

    it('parses decimals exactly and refuses extra precision', () => {
      expect(fromXsdDecimal('1.99', 'GBP')).toBe(199n);
      expect(fromXsdDecimal('1.5', 'GBP')).toBe(150n);
      expect(fromXsdDecimal('1.500', 'GBP')).toBe(150n);
      expect(fromXsdDecimal('.5', 'GBP')).toBe(50n);
      expect(fromXsdDecimal('+2', 'GBP')).toBe(200n);
      expect(fromXsdDecimal('9007199254740993.01', 'GBP')).toBe(900719925474099301n);
      expect(fromXsdDecimal('500', 'JPY')).toBe(500n);
      for (const bad of ['1.999', '1e2', '-1.00', '1,99', 'NaN', '', '1.']) {
        expect(() => fromXsdDecimal(bad, 'GBP')).toThrow(RangeError);
      }
      expect(() => fromXsdDecimal('1.5', 'JPY')).toThrow(RangeError);
    });

    it('round-trips every amount of a range', () => {
      for (let i = 0n; i < 2_000n; i += 7n)
        expect(fromXsdDecimal(toXsdDecimal(i, 'GBP'), 'GBP')).toBe(i);
    });

    it('accepts a node-soap float only when exact', () => {
      expect(fromSoapFloat(19.99, 'GBP')).toBe(1999n);
      expect(fromSoapFloat(0.07, 'GBP')).toBe(7n);
      expect(() => fromSoapFloat(0.1 + 0.2, 'GBP')).toThrow(RangeError);
      expect(() => fromSoapFloat(1.005, 'GBP')).toThrow(RangeError);
    });
  });

  describe('fault → outcome map', () => {
    const fault = (messageId: string | undefined, extra: Partial<SoapFault> = {}): SoapFault => ({
      faultcode: 'soapenv:Server',
      faultstring: 'x',
      messageId,
      variables: [],
      ...extra,
    });

    it('maps the contract codes', () => {
      const expectDecline = (c: ProviderCondition, code: string) =>
        expect(dispositionOf(c)).toEqual({ kind: 'declined', code });
      expectDecline('POL1000', 'INSUFFICIENT_FUNDS');
      expectDecline('SVC0270', 'DENIED');
      expectDecline('POL1001', 'LIMIT_EXCEEDED');
      expectDecline('SVC0004', 'DENIED');
      expectDecline('POL2011', 'CONSENT_EXPIRED');
      expectDecline('POL0253', 'CANCELED_BY_USER');
      expectDecline(conditionOfHttpStatus(503), 'CHANNEL_UNAVAILABLE');
      expectDecline(conditionOfHttpStatus(429), 'CHANNEL_UNAVAILABLE');
      expectDecline(conditionOfHttpStatus(401), 'CHANNEL_UNAVAILABLE');
      expect(dispositionOf(conditionOfHttpStatus(502))).toEqual({ kind: 'unknown' });
      expect(dispositionOf('POL0002')).toEqual({ kind: 'consent' });
      expect(dispositionOf('SVC0005')).toEqual({ kind: 'duplicate' });
    });

    it('answers every known code without throwing', () => {
      for (const code of KNOWN_FAULT_CODES) {
        expect(conditionOfFault(fault(code))).toBe(code);
        expect(['declined', 'duplicate', 'consent', 'unknown']).toContain(dispositionOf(code).kind);
      }
    });

    it('tells an SVC0270 duplicate of our reference from a fresh charge failure', () => {
      const dup = fault('SVC0270', {
        text: 'Charging operation failed: duplicate referenceCode %1',
        variables: ['REF1', '1.99', 'GBP'],
      });
      expect(conditionOfFault(dup, 'REF1')).toBe('SVC0270_DUPLICATE');
      expect(dispositionOf(conditionOfFault(dup, 'REF1'))).toEqual({ kind: 'duplicate' });
      // Someone else's reference, or a plain failure: a business denial.
      expect(conditionOfFault(dup, 'REF2')).toBe('SVC0270');
      expect(
        conditionOfFault(fault('SVC0270', { text: 'Charging operation failed' }), 'REF1'),
      ).toBe('SVC0270');
    });

    it('reads codes from the detail or from faultcode, and recognises auth and uncoded faults', () => {
      const inDetail = parseEnvelope(
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>x</faultstring>' +
          '<detail><c:PolicyException xmlns:c="http://www.csapi.org/schema/parlayx/common/v2_1"><messageId>POL1000</messageId><text>no credit</text><variables>a</variables></c:PolicyException></detail></s:Fault></s:Body></s:Envelope>',
      );
      expect(inDetail.kind === 'fault' && conditionOfFault(inDetail.fault)).toBe('POL1000');
      const inFaultcode = parseEnvelope(
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>SVC0905</faultcode><faultstring>x</faultstring></s:Fault></s:Body></s:Envelope>',
      );
      expect(inFaultcode.kind === 'fault' && conditionOfFault(inFaultcode.fault)).toBe('SVC_OTHER');
      expect(dispositionOf('SVC_OTHER')).toEqual({ kind: 'declined', code: 'DENIED' });
      expect(conditionOfFault(fault(undefined, { faultcode: 'wsse:FailedAuthentication' }))).toBe(
        'AUTH_FAILED',
      );
      expect(conditionOfFault(fault(undefined))).toBe('UNCODED_FAULT');
      expect(dispositionOf('UNCODED_FAULT')).toEqual({ kind: 'unknown' });
    });

    it('reads the vendor charge record, with amounts exact', () => {
      expect(
        outcomeOfChargeRecord({ state: 'CHARGED', amount: '1.99', currency: 'GBP' }, 'CHARGE'),
      ).toEqual({ kind: 'succeeded', amount: 199n, currency: 'GBP' });
      expect(outcomeOfChargeRecord({ state: 'PROCESSING' }, 'CHARGE')).toEqual({
        kind: 'pending',
        completion: 'poll',
      });
      expect(
        outcomeOfChargeRecord({ state: 'CHARGED', amount: '1.999', currency: 'GBP' }, 'CHARGE')
          .kind,
      ).toBe('unknown');
      expect(
        outcomeOfChargeRecord({ state: 'REFUNDED', amount: '1.00', currency: 'GBP' }, 'CHARGE')
          .kind,
      ).toBe('unknown');
      expect(outcomeOfChargeRecord({ state: 'NOT_FOUND' }, 'CHARGE')).toMatchObject({
        kind: 'declined',
        code: 'CHANNEL_UNAVAILABLE',
      });
    });
  });
});

describe('parlayx adapter against its simulator', () => {
  let sim: Simulator;
  const interactions: Interaction[] = [];
  const deps = { record: (i: Interaction) => interactions.push(i), emit: () => undefined };
  const config = (
    over: Partial<AdapterConfig> & { authScheme?: string; password?: string } = {},
  ): AdapterConfig => ({
    baseUrl: sim.url,
    credentials: {
      ...sim.credentials,
      authScheme: over.authScheme ?? 'wsse',
      ...(over.password ? { password: over.password } : {}),
    },
    timeoutMs: 400,
    settings: { demoOtp: '123456', ...(over.settings ?? {}) },
  });
  const msisdn = (n: string) => `+4477009000${n}`;
  const charge = (n: string, amount = 199n, reference = uniqueReference()) => ({
    reference,
    amount,
    currency: 'GBP',
    description: 'Gems & <coins>',
    msisdn: msisdn(n),
  });

  beforeAll(async () => {
    sim = await startSimulator({
      host: '127.0.0.1',
      port: 0,
      callbackUrl: 'http://127.0.0.1:9/unused',
    });
  });
  afterAll(async () => {
    await sim.stop();
  });
  beforeEach(() => sim.control.setFaults({}));

  it.each(['wsse', 'huawei'])('accepts the %s security header', async (authScheme) => {
    const adapter = await factory.create(config({ authScheme }), deps);
    try {
      const req = charge('00');
      await expect(adapter.charge(req)).resolves.toMatchObject({
        kind: 'succeeded',
        amount: 199n,
        currency: 'GBP',
      });
      expect(sim.control.chargeCount(req.reference)).toBe(1);
    } finally {
      await adapter.close();
    }
  });

  it.each(['wsse', 'huawei'])(
    'refuses a wrong password with %s, charging nothing',
    async (authScheme) => {
      const adapter = await factory.create(
        config({ authScheme, password: 'wrong-password' }),
        deps,
      );
      try {
        const req = charge('00');
        const out = await adapter.charge(req);
        expect(out).toMatchObject({
          kind: 'declined',
          code: 'CHANNEL_UNAVAILABLE',
          providerCode: 'FailedAuthentication',
        });
        expect(sim.control.chargeCount(req.reference)).toBe(0);
      } finally {
        await adapter.close();
      }
    },
  );

  it('reports the prepaid balance through getBalance', async () => {
    const adapter = await factory.create(config({ authScheme: 'huawei' }), deps);
    try {
      const payer = `+44770090${String(Date.now() % 1000).padStart(3, '0')}00`;
      const before = await adapter.balance!({ msisdn: payer, currency: 'GBP' });
      expect(before).toEqual({ amount: 100_000_000n, currency: 'GBP' });
      await expect(adapter.charge({ ...charge('00', 250n), msisdn: payer })).resolves.toMatchObject(
        { kind: 'succeeded' },
      );
      await expect(adapter.balance!({ msisdn: payer, currency: 'GBP' })).resolves.toEqual({
        amount: 100_000_000n - 250n,
        currency: 'GBP',
      });
      await expect(adapter.balance!({ msisdn: msisdn('51'), currency: 'GBP' })).resolves.toEqual({
        amount: 0n,
        currency: 'GBP',
      });
      await expect(adapter.balance!({ msisdn: msisdn('64'), currency: 'GBP' })).rejects.toThrow(
        /SVC0004/,
      );
      const balanceLogs = interactions.filter((i) => i.operation === 'getBalance');
      expect(balanceLogs.length).toBeGreaterThanOrEqual(4);
      expect(JSON.stringify(balanceLogs)).not.toContain(payer.slice(1));
    } finally {
      await adapter.close();
    }
  });

  it('a sequential replay of a reference is answered as a duplicate: succeeded, charged once; another amount is a conflict', async () => {
    const adapter = await factory.create(config(), deps);
    try {
      const req = charge('00');
      await expect(adapter.charge(req)).resolves.toMatchObject({ kind: 'succeeded' });
      await expect(adapter.charge(req)).resolves.toMatchObject({ kind: 'succeeded', amount: 199n });
      const conflict = await adapter.charge({ ...req, amount: 299n });
      expect(conflict.kind).toBe('unknown');
      expect(conflict.kind === 'unknown' && conflict.reason).toMatch(/amount conflict/);
      expect(sim.control.chargeCount(req.reference)).toBe(1);
      expect(sim.control.netCharged(req.reference)).toBe(199n);
    } finally {
      await adapter.close();
    }
  });

  it('statusMode replay resolves a lost answer (91) to exactly one charge', async () => {
    const adapter = await factory.create(config({ settings: { statusMode: 'replay' } }), deps);
    try {
      const req = charge('91');
      expect((await adapter.charge(req)).kind).toBe('unknown');
      const resolved: Outcome = await resolveByStatus(adapter, req.reference);
      expect(resolved).toMatchObject({ kind: 'succeeded', amount: 199n });
      expect(sim.control.chargeCount(req.reference)).toBe(1);
    } finally {
      await adapter.close();
    }
  });

  it('status of a reference that never reached the operator is a decline with nothing charged', async () => {
    const adapter = await factory.create(config(), deps);
    try {
      const reference = uniqueReference();
      await expect(adapter.status({ reference })).resolves.toMatchObject({
        kind: 'declined',
        providerCode: 'NOT_FOUND',
      });
      // A status query that fails says nothing about the charge.
      sim.control.setFaults({ unavailable: 1 });
      await expect(adapter.status({ reference })).resolves.toMatchObject({ kind: 'unknown' });
    } finally {
      await adapter.close();
    }
  });

  it('refunds resolve by status, and a refund reference is never applied twice', async () => {
    const adapter = await factory.create(config(), deps);
    try {
      const req = charge('00', 1000n);
      await adapter.charge(req);
      const refund = {
        reference: uniqueReference('RF'),
        chargeReference: req.reference,
        msisdn: req.msisdn,
        amount: 400n,
        currency: 'GBP',
        full: false,
      };
      await expect(adapter.refund!(refund)).resolves.toMatchObject({ kind: 'succeeded' });
      await expect(adapter.refund!(refund)).resolves.toMatchObject({ kind: 'succeeded' });
      expect(sim.control.netCharged(req.reference)).toBe(600n);
      await expect(
        adapter.status({ reference: refund.reference, procedure: 'REFUND' }),
      ).resolves.toMatchObject({ kind: 'succeeded', amount: 400n });
    } finally {
      await adapter.close();
    }
  });

  it('consent holds the amount by reservation and gives it back after the last wrong OTP', async () => {
    const adapter = await factory.create(config(), deps);
    try {
      const payer = `+44770091${String(Date.now() % 1000).padStart(3, '0')}55`;
      const req = { ...charge('55', 700n), msisdn: payer };
      const started = await adapter.charge(req);
      expect(started).toMatchObject({ kind: 'pending', action: { kind: 'OTP', attemptsLeft: 3 } });
      // Asking again does not reserve twice.
      await expect(adapter.charge(req)).resolves.toMatchObject({
        kind: 'pending',
        action: { kind: 'OTP' },
      });
      await expect(adapter.status({ reference: req.reference })).resolves.toMatchObject({
        kind: 'pending',
        action: { kind: 'OTP' },
      });
      await expect(adapter.balance!({ msisdn: payer, currency: 'GBP' })).resolves.toMatchObject({
        amount: 100_000_000n - 700n,
      });
      for (const attemptsLeft of [2, 1]) {
        await expect(
          adapter.confirmConsent!({ reference: req.reference, otp: '111111' }),
        ).resolves.toMatchObject({ kind: 'pending', action: { attemptsLeft } });
      }
      await expect(
        adapter.confirmConsent!({ reference: req.reference, otp: '111111' }),
      ).resolves.toMatchObject({ kind: 'declined', code: 'INVALID_OTP' });
      await expect(adapter.balance!({ msisdn: payer, currency: 'GBP' })).resolves.toMatchObject({
        amount: 100_000_000n,
      });
      // Nothing left to confirm.
      await expect(
        adapter.confirmConsent!({ reference: req.reference, otp: '123456' }),
      ).resolves.toMatchObject({ kind: 'declined', code: 'CONSENT_EXPIRED' });
      expect(sim.control.chargeCount(req.reference)).toBe(0);
    } finally {
      await adapter.close();
    }
  });

  it('consentMode always / never', async () => {
    const always = await factory.create(config({ settings: { consentMode: 'always' } }), deps);
    const never = await factory.create(config({ settings: { consentMode: 'never' } }), deps);
    try {
      const req = charge('00');
      await expect(always.charge(req)).resolves.toMatchObject({
        kind: 'pending',
        action: { kind: 'OTP' },
      });
      await expect(
        always.confirmConsent!({ reference: req.reference, otp: '123456' }),
      ).resolves.toMatchObject({ kind: 'succeeded', amount: 199n });
      expect(sim.control.chargeCount(req.reference)).toBe(1);
      const other = charge('55');
      await expect(never.charge(other)).resolves.toMatchObject({
        kind: 'declined',
        code: 'DENIED',
        providerCode: 'POL0002',
      });
      expect(sim.control.chargeCount(other.reference)).toBe(0);
    } finally {
      await always.close();
      await never.close();
    }
  });

  it('never records secrets, OTPs or full MSISDNs', async () => {
    const adapter = await factory.create(config({ authScheme: 'huawei' }), deps);
    try {
      const req = charge('55');
      const started = await adapter.charge(req);
      expect(started).toMatchObject({ kind: 'pending', action: { kind: 'OTP', attemptsLeft: 3 } });
      await expect(
        adapter.confirmConsent!({ reference: req.reference, otp: '987654' }),
      ).resolves.toMatchObject({ kind: 'pending', action: { kind: 'OTP', attemptsLeft: 2 } });
      await expect(
        adapter.confirmConsent!({ reference: req.reference, otp: '123456' }),
      ).resolves.toMatchObject({ kind: 'succeeded' });
      const text = JSON.stringify(interactions, (_k, v: unknown) =>
        typeof v === 'bigint' ? v.toString() : v,
      );
      for (const secret of [
        sim.credentials.password!,
        sim.credentials.spId!,
        sim.credentials.username!,
        '987654',
        '123456',
      ]) {
        expect(text).not.toContain(secret);
      }
      expect(text).not.toContain('447700900055');
      expect(text).not.toMatch(/Nonce|Digest|spPassword/);
    } finally {
      await adapter.close();
    }
  });
});

describe('parlayx harness', () => {
  it('rawCharge posts one prebuilt envelope the simulator accepts', async () => {
    const h = await startHarness(spec);
    try {
      const reference = uniqueReference('RAW');
      await spec.rawCharge!(h.sim, reference, spec.payer('00'));
      expect(h.sim.control.chargeCount(reference)).toBe(1);
    } finally {
      await h.stop();
    }
  });
});
