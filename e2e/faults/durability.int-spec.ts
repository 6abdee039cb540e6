/**
 * The durability settings deploy/ applies (docs/operations/durability.md): the JetStream config the installed
 * nats-server accepts, fsync per write where the version has it, and synchronous_commit forced on for the
 * read model's connections even where the database default is off.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { createTestDatabase, dropTestDatabase } from '@fabric/testing/infra';
import { jetStreamConfig, natsDurabilityArgs, natsServerVersion, POSTGRES_DURABILITY_ENV, supportsSyncInterval } from '../../deploy/durability';
import { which } from '../../deploy/infra';

const run = (cmd: string, args: string[]) =>
  new Promise<{ code: number; out: string }>((resolve) =>
    execFile(cmd, args, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` })),
  );

describe('durability settings', () => {
  it('writes a JetStream config the installed nats-server accepts, with fsync per write where it can', async () => {
    const bin = which('nats-server')!;
    const version = natsServerVersion(bin);
    expect(version).toBeDefined();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fabric-dur-'));
    try {
      const conf = path.join(dir, 'nats.conf');
      writeFileSync(conf, jetStreamConfig(path.join(dir, 'js'), version));
      expect(await run(bin, ['-c', conf, '-t'])).toMatchObject({ code: 0 });
      // 2.9.x rejects sync_interval: the option is only written for servers that know it.
      expect(jetStreamConfig('/x', version).includes('sync_interval')).toBe(supportsSyncInterval(version));
      expect(natsDurabilityArgs(bin, path.join(dir, 'js')).length > 0).toBe(supportsSyncInterval(version));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(jetStreamConfig('/var/lib/nats', [2, 10, 0])).toContain('sync_interval: always');
    expect(jetStreamConfig('/var/lib/nats', [2, 9, 10])).not.toContain('sync_interval');
  });

  it('keeps synchronous_commit on for the read model even where the database default is off', async () => {
    const db = await createTestDatabase();
    const saved = process.env.PGOPTIONS;
    try {
      const admin = new Client({ connectionString: db.url });
      await admin.connect();
      await admin.query(`ALTER DATABASE "${db.name}" SET synchronous_commit = off`);
      await admin.end();
      const show = async () => {
        const c = new Client({ connectionString: db.url });
        await c.connect();
        try {
          return (await c.query('SHOW synchronous_commit')).rows[0].synchronous_commit;
        } finally {
          await c.end();
        }
      };
      expect(await show()).toBe('off');
      process.env.PGOPTIONS = POSTGRES_DURABILITY_ENV.PGOPTIONS;
      expect(await show()).toBe('on');
    } finally {
      if (saved === undefined) delete process.env.PGOPTIONS;
      else process.env.PGOPTIONS = saved;
      await dropTestDatabase(db.name);
    }
  });
});
