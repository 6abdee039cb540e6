import { unifiedDiff } from './diff';

describe('unifiedDiff', () => {
  describe('given two equal texts', () => {
    it('then the diff is empty', () => {
      expect(unifiedDiff('a\nb\n', 'a\nb\n', 'v1', 'v2')).toBe('');
    });
  });
  describe('given a changed line', () => {
    const d = unifiedDiff('router id 1.1.1.1;\nx\n', 'router id 1.1.1.2;\nx\n', 'v1', 'v2');
    it('then it is a unified diff with both labels, the removed and the added line', () => {
      expect(d).toContain('--- v1');
      expect(d).toContain('+++ v2');
      expect(d).toContain('@@ -1,2 +1,2 @@');
      expect(d).toContain('-router id 1.1.1.1;');
      expect(d).toContain('+router id 1.1.1.2;');
      expect(d).toContain(' x');
    });
  });
  describe('given an empty old version', () => {
    it('then every line is an addition', () => {
      const d = unifiedDiff('', 'a\nb\n', 'none', 'v1');
      expect(d).toContain('+a\n+b');
    });
  });
});
