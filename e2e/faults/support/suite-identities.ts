/**
 * The identities of a supervised fabric's own NATS, as `npm start` enrolls them (deploy/nats-auth.ts): one nkey
 * per service, per agent and an admin for the harness (it creates the streams and reads everything, as an
 * operator would). Same permission table (renderServerConfig), kept in the suite's data dir, not .data/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { nkeys } from '@nats-io/nats-core';
import { type EnrolledIdentity, type Identity, identityName, type NatsClusterMember, renderServerConfig } from '@fabric/eventstore';

export interface AuthServer {
  port: number;
  storeDir: string;
  /** Where the server's config is written (nats-server -c). */
  config: string;
  httpPort?: number;
  cluster?: NatsClusterMember;
}

export class SuiteIdentities {
  private readonly enrolled: EnrolledIdentity[] = [];
  private readonly files = new Map<string, string>();
  private readonly dir: string;

  constructor(
    dataDir: string,
    private readonly ns: string,
  ) {
    this.dir = path.join(dataDir, 'creds');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** The identity's seed file (0600), enrolled on first use; the servers learn it at the next writeConfigs. */
  creds(identity: Identity): string {
    const name = identityName(identity);
    const known = this.files.get(name);
    if (known) return known;
    const kp = nkeys.createUser();
    const file = path.join(this.dir, `${name}.nk`);
    writeFileSync(file, new TextDecoder().decode(kp.getSeed()) + '\n', { mode: 0o600 });
    this.enrolled.push({ identity, publicKey: kp.getPublicKey(), enrolledAt: new Date().toISOString() });
    this.files.set(name, file);
    return file;
  }

  /** Every server's config with every identity enrolled so far (a running server reloads it on SIGHUP). */
  writeConfigs(servers: AuthServer[]) {
    for (const s of servers)
      writeFileSync(
        s.config,
        renderServerConfig({
          host: '127.0.0.1',
          port: s.port,
          storeDir: s.storeDir,
          ns: this.ns,
          identities: this.enrolled,
          ...(s.cluster ? { cluster: s.cluster, httpPort: s.httpPort } : {}),
        }),
        { mode: 0o600 },
      );
  }
}
