import { isUUID } from 'class-validator';
import { uuidFromSeed } from './ids';

describe('uuidFromSeed', () => {
  it('given the same seed, then the same UUID; given another seed, then another one', () => {
    expect(uuidFromSeed('cmd-1')).toBe(uuidFromSeed('cmd-1'));
    expect(uuidFromSeed('cmd-1')).not.toBe(uuidFromSeed('cmd-2'));
  });

  it('is a valid version 4 UUID with the RFC 4122 variant', () => {
    for (let i = 0; i < 200; i++) {
      const id = uuidFromSeed(`seed-${i}`);
      expect(isUUID(id, 4)).toBe(true);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });
});
