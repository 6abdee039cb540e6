import { observationRetention } from './connection';

describe('observations stream retention (FABRIC_OBS_MAX_AGE_S, FABRIC_OBS_MAX_BYTES)', () => {
  it('given nothing set, then 3 days and 1 GiB', () => {
    expect(observationRetention({})).toEqual({ maxAgeS: 259_200, maxBytes: 1024 ** 3 });
  });

  it('given values, then they are used', () => {
    expect(observationRetention({ FABRIC_OBS_MAX_AGE_S: '3600', FABRIC_OBS_MAX_BYTES: String(64 * 1024 * 1024) })).toEqual({
      maxAgeS: 3600,
      maxBytes: 64 * 1024 * 1024,
    });
  });

  it.each([
    ['FABRIC_OBS_MAX_AGE_S', '0'],
    ['FABRIC_OBS_MAX_AGE_S', '1.5'],
    ['FABRIC_OBS_MAX_AGE_S', 'week'],
    ['FABRIC_OBS_MAX_BYTES', '1000'],
  ])('given %s=%s, then it is refused', (name, value) => {
    expect(() => observationRetention({ [name]: value })).toThrow(name);
  });
});
