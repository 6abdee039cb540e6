import { nodeFlushIntervalFromEnv, protocolNumberFromEnv } from './route-announcer';

describe('route-announcer settings from the environment', () => {
  it('given no FABRIC_NODE_FLUSH_INTERVAL_MS, when read, then the deriver keeps its own interval', () => {
    expect(nodeFlushIntervalFromEnv({})).toBeUndefined();
    expect(nodeFlushIntervalFromEnv({ FABRIC_NODE_FLUSH_INTERVAL_MS: '' })).toBeUndefined();
  });

  it('given an interval in ms, when read, then it is the flush interval', () => {
    expect(nodeFlushIntervalFromEnv({ FABRIC_NODE_FLUSH_INTERVAL_MS: '100' })).toBe(100);
  });

  it.each(['0', '-5', '2.5', 'soon', '5001'])('given %s, when read, then the service refuses to start', (v) => {
    expect(() => nodeFlushIntervalFromEnv({ FABRIC_NODE_FLUSH_INTERVAL_MS: v })).toThrow(/FABRIC_NODE_FLUSH_INTERVAL_MS must be 1..5000/);
  });

  it('given no FABRIC_ROUTE_PROTOCOL, when read, then 200', () => {
    expect(protocolNumberFromEnv({})).toBe(200);
  });
});
