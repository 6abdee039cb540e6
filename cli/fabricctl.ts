/**
 * fabricctl: the operator's command line for the ip-fabric HTTP API.
 *   npm run fabricctl -- vm list --cluster lab      or      cli/fabricctl vm list --cluster lab  (both via cli/run.js)
 * Exit codes: 0 ok, 1 API error (or API unreachable), 2 usage error.
 */
import { helpText, parseArgv, UsageError } from './args';
import { ApiClient, ApiError } from './client';
import { run } from './commands';
import { formatApiError } from './format';

export const DEFAULT_API = 'http://127.0.0.1:8080/api/v1';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env: Record<string, string | undefined>;
}

export async function main(argv: string[], io: Io): Promise<number> {
  const json = argv.includes('--json');
  let parsed;
  try {
    parsed = parseArgv(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(json ? JSON.stringify({ error: 'usage', message: err.message }) : `fabricctl: ${err.message}\n(run: fabricctl ${err.command ? `${err.command} ` : ''}--help)`);
    return 2;
  }
  if ('help' in parsed) {
    io.out(helpText(parsed.command, parsed.topic));
    return 0;
  }
  const api = new ApiClient(parsed.global.api ?? io.env.FABRIC_API ?? DEFAULT_API, parsed.global.token ?? io.env.FABRIC_TOKEN);
  try {
    const result = await run(api, parsed);
    io.out(parsed.global.json ? JSON.stringify(result.json, null, 2) : result.text);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(parsed.global.json ? JSON.stringify({ error: 'usage', message: err.message }) : `fabricctl: ${err.message}`);
      return 2;
    }
    if (err instanceof ApiError) {
      io.err(parsed.global.json ? JSON.stringify(err.body) : formatApiError(err.body));
      return 1;
    }
    throw err;
  }
}

if (require.main === module) {
  main(process.argv.slice(2), { out: (s) => console.log(s), err: (s) => console.error(s), env: process.env })
    .then((code) => (process.exitCode = code))
    .catch((err) => {
      console.error(`fabricctl: unexpected error: ${err?.stack ?? err}`);
      process.exitCode = 1;
    });
}
