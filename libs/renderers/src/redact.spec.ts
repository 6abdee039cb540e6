import { redactSecrets } from './redact';

describe('redactSecrets', () => {
  it('given BIRD, FRR and Junos configs with an MD5 password, when redacted, then no password remains', () => {
    const text = [
      'protocol bgp rr1 {\n  password "ab!#$%";\n}',
      ' neighbor 198.18.0.11 password ab!#$%',
      'set protocols bgp group FABRIC authentication-key "ab!#$%"',
      '-  password "old1";\n+  password "new2";',
    ].join('\n');
    const out = redactSecrets(text);
    expect(out).not.toMatch(/ab!#\$%|old1|new2/);
    expect(out).toContain('password "<redacted>";');
    expect(out).toContain(' neighbor 198.18.0.11 password <redacted>');
    expect(out).toContain('authentication-key "<redacted>"');
  });

  it('given a secret reference, when redacted, then it reads <redacted>', () => {
    expect(redactSecrets('password "{{secret:42}}";')).toBe('password "<redacted>";');
  });
});
