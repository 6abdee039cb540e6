/**
 * The agent as one self-contained JavaScript file for hypervisors (`fabricctl node enroll` puts it in the bundle):
 * agents/src/main.ts and everything it imports — workspace libraries and npm packages — bundled by rolldown, the
 * TypeScript compiled by swc as `npm start` does (legacy decorators with metadata, for the contracts' validation
 * classes). The file needs no checkout and no node_modules on the host, only Node.js: it is built for the Node.js
 * of Debian bookworm and Ubuntu 24.04 (18.19/18.20, `AGENT_NODE_MAJOR`), and the lab test
 * deploy/install-fresh-host.lab-spec.ts runs it on bookworm's `nodejs` package.
 *   node -r ./deploy/register.js deploy/build-agent.ts --out <file>
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

const REPO = path.resolve(__dirname, '..');
const ENTRY = path.join(REPO, 'agents', 'src', 'main.ts');

/** The oldest Node.js major the bundled agent runs on (install.sh refuses an older one). */
export const AGENT_NODE_MAJOR = 18;

/**
 * NestJS' microservices package (reached through the contracts' and the event store's Nest parts, unused by the
 * agent) requires the client library of every transport lazily, only when that transport is configured. They are
 * not dependencies of the product; any other unresolved import fails the build.
 */
const OPTIONAL = ['@nestjs/websockets/socket-module', 'kafkajs', 'mqtt', 'nats', 'ioredis', 'amqplib', 'amqp-connection-manager'];

export async function buildAgentBundle(outFile: string): Promise<{ file: string; bytes: number }> {
  const { build } = await import('rolldown');
  const { transform } = await import('@swc/core');
  const swcrc = JSON.parse(readFileSync(path.join(REPO, '.swcrc'), 'utf8'));
  const problems: string[] = [];
  await mkdir(path.dirname(outFile), { recursive: true });
  const out = await build({
    input: ENTRY,
    platform: 'node',
    tsconfig: path.join(REPO, 'tsconfig.base.json'),
    external: OPTIONAL,
    logLevel: 'warn',
    onLog(level, log) {
      if (level === 'warn' && log.code === 'UNRESOLVED_IMPORT') problems.push(log.message);
    },
    plugins: [
      {
        name: 'swc-typescript',
        async transform(code, id) {
          if (!id.endsWith('.ts') || id.includes(`${path.sep}node_modules${path.sep}`)) return null;
          const r = await transform(code, {
            ...swcrc,
            swcrc: false,
            filename: id,
            sourceMaps: false,
            module: { type: 'commonjs' },
            jsc: { ...swcrc.jsc, target: 'es2022' },
          });
          return { code: r.code, moduleType: 'js' };
        },
      },
    ],
    output: { format: 'cjs', file: outFile, codeSplitting: false, banner: '#!/usr/bin/env node' },
  });
  if (problems.length) throw new Error(`unresolved imports in the agent bundle:\n${problems.join('\n')}`);
  const chunk = out.output[0];
  const bytes = chunk.type === 'chunk' ? Buffer.byteLength(chunk.code) : 0;
  return { file: outFile, bytes };
}

if (require.main === module) {
  const i = process.argv.indexOf('--out');
  const out = i > 0 ? process.argv[i + 1] : undefined;
  if (!out) {
    process.stderr.write('usage: build-agent.ts --out <file>\n');
    process.exit(2);
  }
  buildAgentBundle(path.resolve(out)).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (e) => {
      process.stderr.write(`agent bundle failed: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
