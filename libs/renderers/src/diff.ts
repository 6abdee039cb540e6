import { createTwoFilesPatch } from 'diff';

/** Unified diff of two config versions; empty string when they are equal. */
export function unifiedDiff(oldText: string, newText: string, oldLabel: string, newLabel: string): string {
  if (oldText === newText) return '';
  return createTwoFilesPatch(oldLabel, newLabel, oldText, newText, undefined, undefined, { context: 3 });
}
