import { useState } from 'react';
import { type Node } from '../api';
import { Card, useApi } from '../components';
import { useLive } from '../live';
import { EventLog } from '../views';

export function EventsPage({ clusterId }: { clusterId: string }) {
  const { events, mode } = useLive();
  const nodes = useApi<Node[]>(`/clusters/${clusterId}/nodes`, { live: false });
  const [type, setType] = useState('');
  const types = [...new Set(events.map((e) => e.type))].sort();
  const shown = type ? events.filter((e) => e.type === type) : events;
  return (
    <>
      <h1 className="page-title">Event log</h1>
      <p className="lede">
        {mode === 'live'
          ? 'Live from the event stream (GET /api/v1/events), newest first. The views refresh themselves on every event.'
          : mode === 'polling'
            ? 'The event feed is not available on this gateway: the views are refreshed every few seconds instead, and the feed is retried.'
            : 'Connecting to the event feed…'}
      </p>
      <Card
        title={`Events (${shown.length})`}
        actions={
          <div className="filters">
            <label htmlFor="ev-type">Type</label>
            <select id="ev-type" value={type} onChange={(e) => setType(e.target.value)} data-testid="event-type-filter">
              <option value="">all</option>
              {types.map((t) => (
                <option key={t}>{t}</option>
              ))}
            </select>
          </div>
        }
      >
        <EventLog events={shown} clusterId={clusterId} names={Object.fromEntries((nodes.data ?? []).map((n) => [n.id, n.name]))} />
      </Card>
    </>
  );
}
