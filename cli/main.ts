/**
 * fabricctl: the operator's command line for the ip-fabric HTTP API.
 *   npm run fabricctl -- vm list --cluster lab      or      cli/fabricctl vm list --cluster lab  (both via cli/run.js)
 * Exit codes: 0 ok, 1 API error (or API unreachable), 2 usage error. Output goes through `io` (testable).
 */
import { buildProgram, parseArgv, type ParseResult, UsageError } from './args';
import { ApiClient, ApiError } from './client';
import { isApiCommand, run } from './commands';
import { bashCompletion } from './completion';
import { formatApiError } from './format';

export const DEFAULT_API = 'http://127.0.0.1:8080/api/v1';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env: Record<string, string | undefined>;
}

export async function main(argv: string[], io: Io): Promise<number> {
  const json = argv.includes('--json');
  let parsed: ParseResult;
  try {
    parsed = parseArgv(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(
      json
        ? JSON.stringify({ error: 'usage', message: err.message })
        : `fabricctl: ${err.message}\n(run: fabricctl ${err.command ? `${err.command} ` : ''}--help)`,
    );
    return 2;
  }
  if ('help' in parsed) {
    io.out(parsed.help);
    return 0;
  }
  if (!isApiCommand(parsed)) {
    io.out(bashCompletion(buildProgram()).trimEnd());
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
