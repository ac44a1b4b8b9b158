/**
 * Demo mode: every carrier/PSP simulator on fixed loopback ports, their URLs and the
 * credentials they minted written to SIMULATORS_FILE (mode 0600) for the seed, then kept
 * running until SIGINT/SIGTERM. `npm start` spawns this before the subgraphs.
 *
 * Ports (env-overridable): SIM_CAMARA_PORT 4101, SIM_PARLAYX_GB_PORT 4102,
 * SIM_PARLAYX_DE_PORT 4103, SIM_ONEAPI_PORT 4104, SIM_SMPP_PORT 4105, SIM_CARD_PORT 4106,
 * SIM_SETTLEMENT_PORT 4107. Callbacks go to CALLBACK_BASE_URL (default the channels service,
 * http://127.0.0.1:$CHANNELS_PORT) + /callbacks/<channel code>.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_PORTS } from '@coinslot/kernel';
import { startSimulator as startCamara } from './adapters/camara/simulator';
import { startSimulator as startCard } from './adapters/card/simulator';
import { startSimulator as startOneApi } from './adapters/oneapi/simulator';
import { startSimulator as startParlayx } from './adapters/parlayx/simulator';
import { startSimulator as startSmpp } from './adapters/smpp/simulator';
import { startSettlementSimulator } from './settlement/simulator';
import type { DemoSimulators } from './seed';
import type { SimulatorControl } from './adapters/simulator';

export const DEMO_SIMULATOR_PORTS = {
  camara: 4101,
  parlayxGb: 4102,
  parlayxDe: 4103,
  oneapi: 4104,
  smpp: 4105,
  card: 4106,
  settlement: 4107,
} as const;

const ENV_NAMES: Record<keyof typeof DEMO_SIMULATOR_PORTS, string> = {
  camara: 'SIM_CAMARA_PORT',
  parlayxGb: 'SIM_PARLAYX_GB_PORT',
  parlayxDe: 'SIM_PARLAYX_DE_PORT',
  oneapi: 'SIM_ONEAPI_PORT',
  smpp: 'SIM_SMPP_PORT',
  card: 'SIM_CARD_PORT',
  settlement: 'SIM_SETTLEMENT_PORT',
};

export interface RunningSimulators {
  info: DemoSimulators;
  /** Each simulator's control (charge counts, faults, redirects), for in-process tests. */
  controls: Record<
    'camara' | 'parlayxGb' | 'parlayxDe' | 'oneapi' | 'smpp' | 'card',
    SimulatorControl
  >;
  stop(): Promise<void>;
}

/** Starts every simulator; `port(name)` 0 picks free ports (tests). */
export async function startDemoSimulators(options: {
  host?: string;
  callbackBase: string;
  port?: (name: keyof typeof DEMO_SIMULATOR_PORTS) => number;
}): Promise<RunningSimulators> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? ((name) => DEMO_SIMULATOR_PORTS[name]);
  const cb = (code: string) => `${options.callbackBase.replace(/\/+$/, '')}/callbacks/${code}`;
  const stops: (() => Promise<void>)[] = [];
  const track = <T extends { stop(): Promise<void> }>(sim: T): T => {
    stops.push(() => sim.stop());
    return sim;
  };
  const stop = async () => {
    await Promise.allSettled(stops.splice(0).map((s) => s()));
  };
  try {
    const camara = track(
      await startCamara({ host, port: port('camara'), callbackUrl: cb('camara-fr') }),
    );
    const parlayxGb = track(await startParlayx({ host, port: port('parlayxGb'), currency: 'GBP' }));
    const parlayxDe = track(await startParlayx({ host, port: port('parlayxDe'), currency: 'EUR' }));
    const oneapi = track(
      await startOneApi({ host, port: port('oneapi'), callbackUrl: cb('oneapi-us') }),
    );
    const smpp = track(await startSmpp({ host, port: port('smpp'), callbackUrl: cb('smpp-gb') }));
    const card = track(await startCard({ host, port: port('card'), callbackUrl: cb('card') }));
    const sftpPassword = randomBytes(18).toString('base64url');
    const settlement = track(
      await startSettlementSimulator({
        host,
        port: port('settlement'),
        username: 'coinslot',
        password: sftpPassword,
      }),
    );
    const pick = (s: { url: string; credentials: Record<string, string> }) => ({
      url: s.url,
      credentials: { ...s.credentials },
    });
    return {
      info: {
        callbackBase: options.callbackBase,
        camara: pick(camara),
        parlayxGb: pick(parlayxGb),
        parlayxDe: pick(parlayxDe),
        oneapi: pick(oneapi),
        smpp: pick(smpp),
        card: pick(card),
        settlement: {
          url: settlement.url,
          credentials: { username: settlement.credentials.username, password: sftpPassword },
          hostKeySha256: settlement.hostKeySha256,
        },
      },
      controls: {
        camara: camara.control,
        parlayxGb: parlayxGb.control,
        parlayxDe: parlayxDe.control,
        oneapi: oneapi.control,
        smpp: smpp.control,
        card: card.control,
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function main(): Promise<void> {
  const file = process.env.SIMULATORS_FILE;
  if (!file) throw new Error('SIMULATORS_FILE must name the JSON file to write the simulators to');
  const channelsPort = Number(process.env.CHANNELS_PORT ?? DEFAULT_PORTS.channels);
  const callbackBase = process.env.CALLBACK_BASE_URL ?? `http://127.0.0.1:${channelsPort}`;
  const sims = await startDemoSimulators({
    host: process.env.SIMULATORS_HOST ?? '127.0.0.1',
    callbackBase,
    port: (name) => Number(process.env[ENV_NAMES[name]] ?? DEMO_SIMULATOR_PORTS[name]),
  });
  // Write-then-rename: a reader never sees half a file. It holds credentials: owner only.
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(
    tmp,
    JSON.stringify(
      { ...sims.info, pid: process.pid, startedAt: new Date().toISOString() },
      null,
      2,
    ),
    { mode: 0o600 },
  );
  fs.renameSync(tmp, file);
  console.log(
    `simulators ready (${Object.values(DEMO_SIMULATOR_PORTS).join(', ')} unless overridden); details in ${file}`,
  );

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    sims
      .stop()
      .then(() => {
        fs.rmSync(file, { force: true });
        console.log(`simulators stopped (${signal})`);
        process.exit(0);
      })
      .catch(() => process.exit(1));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
