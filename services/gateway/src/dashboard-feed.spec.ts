import { EVENT_CLASSES } from '@fabric/contracts';
import { EVENT_TYPES } from '../../../dashboard/src/event-types';

describe('the dashboard live feed', () => {
  it('listens to every event type the gateway streams (a missing one never refreshes the open views)', () => {
    // given the contracts' event types, when the dashboard registers its SSE listeners, then none is missing
    expect([...EVENT_TYPES].sort()).toEqual(Object.keys(EVENT_CLASSES).sort());
  });
});
