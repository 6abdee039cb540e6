import { birdReplyLine } from './bird-socket';

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
