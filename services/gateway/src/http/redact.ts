/** `?access_token=` is a secret (EventSource cannot send headers): never in a trace attribute or a log line. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]access_token=)[^&#]*/gi, '$1REDACTED');
}
