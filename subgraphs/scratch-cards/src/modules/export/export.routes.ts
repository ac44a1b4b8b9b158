import type { Express, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { MikroORM } from '@coinslot/kernel';
import type { Vault } from '../../codes/crypto';
import { exportsService, writeBatchCsv } from './export.service';

/**
 * GET /exports/:token — the printing CSV behind a single-use link (the gateway proxies
 * /exports/scratch-cards/:token here). The token is the authorisation: 256 random bits, stored
 * hashed, short-lived; a second use answers 410 Gone, an unknown token 404.
 */
export function exportRoutes(
  app: Express,
  deps: { orm: MikroORM; vault: Vault; log: Logger },
): void {
  app.get('/exports/:token', async (req: Request<{ token: string }>, res: Response) => {
    const redeemed = await exportsService
      .redeemToken(deps.orm.em.fork(), req.params.token)
      .catch((err: unknown) => {
        deps.log.error({ err }, 'export token lookup failed');
        return null;
      });
    if (!redeemed) {
      res.status(500).json({
        errors: [
          { message: 'Internal error. It has been logged.', extensions: { code: 'INTERNAL' } },
        ],
      });
      return;
    }
    if ('error' in redeemed) {
      const gone = redeemed.error === 'gone';
      res.status(gone ? 410 : 404).json({
        errors: [
          {
            message: gone
              ? 'This export link has been used or has expired. Export links work once; ask for a new one if the batch has not been downloaded.'
              : 'Unknown export link.',
            extensions: { code: 'NOT_FOUND' },
          },
        ],
      });
      return;
    }
    const { batch } = redeemed;
    res.status(200);
    res.setHeader('content-type', 'text/csv; charset=utf-8');
    res.setHeader(
      'content-disposition',
      `attachment; filename="scratch-cards-${batch.number}.csv"`,
    );
    res.setHeader('cache-control', 'no-store');
    try {
      await writeBatchCsv({
        orm: deps.orm,
        vault: deps.vault,
        batch,
        out: res,
        principal: { kind: 'service', service: 'scratch-cards:export-link' },
        via: 'http',
      });
      res.end();
    } catch (err) {
      // Nothing was erased: the batch can be exported again with a new link.
      deps.log.error({ err, batchId: batch.id }, 'export download failed');
      res.destroy();
    }
  });
}
