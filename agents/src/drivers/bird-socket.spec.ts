import { BirdControl, BirdReplyError, birdReplyLine } from './bird-socket';

describe('birdReplyLine (BIRD control-socket framing, as birdc prints it)', () => {
  it('strips the code of a numbered line; `-` continues the reply, a space ends it', () => {
    expect(birdReplyLine('2002-Name       Proto      Table')).toEqual({ text: 'Name       Proto      Table', code: 2002, last: false });
    expect(birdReplyLine('1002-node_n1  BGP  ---  up  10:00:00.000  Established')).toEqual({
      text: 'node_n1  BGP  ---  up  10:00:00.000  Established',
      code: 1002,
      last: false,
    });
    expect(birdReplyLine('0000 ')).toEqual({ code: 0, last: true });
    expect(birdReplyLine('8003 No protocols match')).toEqual({ text: 'No protocols match', code: 8003, last: true });
  });

  it('drops the leading space of a continuation line', () => {
    expect(birdReplyLine('   Routes:         1 imported, 0 exported')).toEqual({ text: '  Routes:         1 imported, 0 exported', last: false });
  });
});

describe('BirdControl', () => {
  it('given a word with a space, quote or line break, then the command is refused before anything is sent', async () => {
    const c = new BirdControl('/nonexistent/bird.ctl', 1000);
    for (const w of ['node_n1 all', 'x"', 'a\nshow', '']) await expect(c.cmd('show', 'protocols', 'all', w)).rejects.toBeInstanceOf(BirdReplyError);
    c.close();
  });
});
