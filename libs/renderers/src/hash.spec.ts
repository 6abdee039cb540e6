import { createHash } from 'node:crypto';
import { canonicalJson, contentHash } from './hash';

describe('contentHash', () => {
  describe('given the same object with keys in another order, at any depth', () => {
    it('then the hashes are equal', () => {
      expect(contentHash({ a: 1, b: { c: [1, { x: 1, y: 2 }], d: 'z' } })).toBe(contentHash({ b: { d: 'z', c: [1, { y: 2, x: 1 }] }, a: 1 }));
    });
  });
  describe('given different content or array order', () => {
    it('then the hashes differ', () => {
      expect(contentHash({ a: [1, 2] })).not.toBe(contentHash({ a: [2, 1] }));
      expect(contentHash({ a: 1 })).not.toBe(contentHash({ a: '1' }));
    });
  });
  describe('given an object', () => {
    it('then the hash is the sha256 hex of its canonical JSON', () => {
      expect(canonicalJson({ b: 1, a: [true, null] })).toBe('{"a":[true,null],"b":1}');
      expect(contentHash({ b: 1, a: 2 })).toBe(createHash('sha256').update('{"a":2,"b":1}').digest('hex'));
      expect(contentHash('x')).toMatch(/^[0-9a-f]{64}$/);
    });
  });
  describe('given undefined properties', () => {
    it('then they are ignored like JSON.stringify does', () => {
      expect(contentHash({ a: 1, b: undefined })).toBe(contentHash({ a: 1 }));
    });
  });
});
