/** fabricctl's entry point when started with the TypeScript loader (cli/run.js falls back to it). */
import { main } from './main';

export { main };

if (require.main === module) {
  main(process.argv.slice(2), { out: (s) => console.log(s), err: (s) => console.error(s), env: process.env })
    .then((code) => (process.exitCode = code))
    .catch((err: unknown) => {
      console.error(`fabricctl: unexpected error: ${err instanceof Error ? err.stack : String(err)}`);
      process.exitCode = 1;
    });
}
