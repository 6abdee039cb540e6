import { DESIRED_SCHEMA_VERSION, unsupportedDesiredSchema } from './desired-state';

describe('desired-state schema version', () => {
  describe('given an agent that understands 1.x', () => {
    it.each([undefined, null, '', '1.0', '1.7', DESIRED_SCHEMA_VERSION])('then %p is applied (no header = 1.0; minors are additive)', (v) => {
      expect(unsupportedDesiredSchema(v, '1.0')).toBeUndefined();
    });
    it.each(['2.0', '0.9', '10.0'])('then major %s is refused with the reason', (v) => {
      expect(unsupportedDesiredSchema(v, '1.0')).toMatch(/not supported by this agent \(it understands 1\.x\)/);
    });
    it.each(['1', 'v1.0', '1.0.0', '1.0; rm -rf', 'x'.repeat(100)])('then the malformed %p is refused', (v) => {
      expect(unsupportedDesiredSchema(v, '1.0')).toMatch(/^malformed/);
    });
  });
});
