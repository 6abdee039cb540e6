import { REDACTED, SECRET_REF } from '@fabric/contracts';

/** A rendered config (BIRD, FRR, Junos) or a diff of one, with every MD5 password replaced by `<redacted>`. */
export function redactSecrets(text: string): string {
  return text
    .replace(SECRET_REF, REDACTED)
    .replace(/(\bpassword ")[^"\n]*(")/g, `$1${REDACTED}$2`)
    .replace(/(\bneighbor \S+ password )\S+/g, `$1${REDACTED}`)
    .replace(/(\bauthentication-key ")[^"\n]*(")/g, `$1${REDACTED}$2`);
}
