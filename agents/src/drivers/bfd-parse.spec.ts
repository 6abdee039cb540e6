/**
 * BFD parsers against output captured from the real daemons on this machine (BIRD 2.0.12 ↔ FRR bfdd over a veth
 * pair, 100 ms intervals, multiplier 3): the session up, then with the link cut.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBirdBfdSessions, parseFrrBfdPeersJson } from './bfd-parse';

const fixture = (f: string) => readFileSync(join(__dirname, '__fixtures__', f), 'utf8');

describe('parseBirdBfdSessions', () => {
  it('given the session up, then the peer, interface, state and timers', () => {
    expect(parseBirdBfdSessions(fixture('birdc-show-bfd-sessions-up.txt'))).toEqual([
      expect.objectContaining({ peer: '10.99.0.2', interface: 'bfa', state: 'up', up: true, protocol: 'fabric_bfd', intervalMs: 100, timeoutMs: 300 }),
    ]);
  });
  it('given the link cut, then the session is down', () => {
    expect(parseBirdBfdSessions(fixture('birdc-show-bfd-sessions-down.txt'))).toEqual([expect.objectContaining({ peer: '10.99.0.2', up: false })]);
  });
  it('given no BFD protocol or garbage, then no session', () => {
    expect(parseBirdBfdSessions('')).toEqual([]);
    expect(parseBirdBfdSessions('BIRD 2.0.12 ready.\nsyntax error, unexpected CF_SYM_UNDEFINED\n')).toEqual([]);
  });
});

describe('parseFrrBfdPeersJson', () => {
  it('given the session up, then the peer, interface, state and timers', () => {
    expect(parseFrrBfdPeersJson(fixture('vtysh-bfd-peers-up.json'))).toEqual([
      expect.objectContaining({ peer: '10.99.0.1', interface: 'bfb', state: 'up', up: true, intervalMs: 100, timeoutMs: 300 }),
    ]);
  });
  it('given the link cut, then the session is down', () => {
    expect(parseFrrBfdPeersJson(fixture('vtysh-bfd-peers-down.json'))).toEqual([expect.objectContaining({ peer: '10.99.0.1', up: false })]);
  });
  it('given no peers, an object or bad JSON, then no session', () => {
    expect(parseFrrBfdPeersJson('[]')).toEqual([]);
    expect(parseFrrBfdPeersJson('{}')).toEqual([]);
    expect(parseFrrBfdPeersJson('% Unknown command')).toEqual([]);
    expect(parseFrrBfdPeersJson('[{"status":"up"},null]')).toEqual([]);
  });
});
