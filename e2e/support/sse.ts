/** A minimal server-sent-events client over fetch (tests): collects parsed events until closed. */
export interface SseEvent {
  id?: string;
  event?: string;
  data: any;
}

export interface SseStream {
  status: number;
  events: SseEvent[];
  comments: string[];
  /** Resolves once `n` events matching `pred` arrived. */
  waitFor(pred: (e: SseEvent) => boolean, n?: number, timeoutMs?: number): Promise<SseEvent[]>;
  close(): void;
  /** Resolves when the server ended the stream. */
  ended: Promise<void>;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const ctrl = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: ctrl.signal });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let notify: () => void = () => undefined;
  let connected!: () => void;
  const ready = new Promise<void>((r) => (connected = r));
  const ended = (async () => {
    if (!res.ok || !res.body) return;
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev: SseEvent = { data: undefined };
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('id: ')) ev.id = line.slice(4);
            else if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (comments.length) connected();
          if (data.length) {
            ev.data = JSON.parse(data.join('\n'));
            events.push(ev);
            notify();
          }
        }
      }
    } catch {
      /* aborted */
    } finally {
      connected();
      notify();
    }
  })();
  // The server writes a comment once its consumer exists: from then on nothing is missed.
  if (res.ok) await ready;
  return {
    status: res.status,
    events,
    comments,
    ended,
    close: () => ctrl.abort(),
    async waitFor(pred, n = 1, timeoutMs = 15000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hits = events.filter(pred);
        if (hits.length >= n) return hits;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} SSE events; got ${JSON.stringify(events.map((e) => `${e.id} ${e.event}`))}`);
        await Promise.race([new Promise<void>((r) => (notify = r)), new Promise((r) => setTimeout(r, 200))]);
      }
    },
  };
}
