/**
 * docs/architecture.md (headers): the OpenTelemetry context travels in NATS headers, so one trace covers
 * HTTP request → inventory command → VmCreated → IPAM → IpAllocated.
 */
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { setupTelemetry, shutdownTelemetry } from '@fabric/telemetry';
import { eventually } from '@fabric/testing/infra';
import { type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture, type Fixture, settledVm } from '../support/api-fixtures';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

describe('one trace from the HTTP request to the allocated address', () => {
  const exporter = new InMemorySpanExporter();
  let cp: ControlPlane;
  let fx: Fixture;

  beforeAll(async () => {
    // Installs the provider once per process: before any service calls setupTelemetry itself.
    await setupTelemetry('test', exporter);
    cp = await startControlPlane();
    fx = await createFixture(cp);
  });
  afterAll(async () => {
    await cp?.close();
    await shutdownTelemetry();
  });

  const spans = () => exporter.getFinishedSpans();
  const parentId = (s: ReadableSpan) => s.parentSpanContext?.spanId;

  /** Span names from `s` up to its root, following parent ids through the exported spans. */
  function chain(s: ReadableSpan): ReadableSpan[] {
    const byId = new Map(spans().map((x) => [x.spanContext().spanId, x]));
    const out = [s];
    for (let p = parentId(s); p; p = parentId(out[out.length - 1])) {
      const next = byId.get(p);
      if (!next) break;
      out.push(next);
    }
    return out;
  }

  it('HTTP POST /vms, the inventory command, the IPAM consume of VmCreated and the IpAllocated write share one trace', async () => {
    exporter.reset();
    const res = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'traced', ownerId: 'cust-1' });
    expect(res.status).toBe(202);
    const vmId = res.body.id;
    expect((await settledVm(cp, vmId)).status).toBe('ip-allocated');

    const [vmCreated] = await cp.store.read(cp.store.subjects.evt('vm', vmId));
    expect(vmCreated.type).toBe('VmCreated');

    const consume = await eventually(
      () => spans().find((s) => s.name === 'consume VmCreated' && s.attributes['fabric.seq'] === vmCreated.seq),
      10000,
      50,
      'IPAM consume span of the VmCreated',
    );
    const httpSpan = await eventually(() => spans().find((s) => s.name === 'HTTP POST /vms'), 10000, 50, 'HTTP server span');
    expect(httpSpan.kind).toBe(SpanKind.SERVER);
    expect(httpSpan.attributes['http.response.status_code']).toBe(202);
    const traceId = httpSpan.spanContext().traceId;

    const command = spans().find((s) => s.name === 'command CreateVm' && s.spanContext().traceId === traceId);
    expect(command).toBeDefined();
    expect(command!.kind).toBe(SpanKind.CONSUMER);
    expect(consume.kind).toBe(SpanKind.CONSUMER);
    expect(consume.spanContext().traceId).toBe(traceId);

    // IPAM consume → inventory command → RPC send → HTTP request
    const names = chain(consume).map((s) => s.name);
    expect(names).toEqual(['consume VmCreated', 'command CreateVm', 'send CreateVm', 'HTTP POST /vms']);
    expect(chain(consume).every((s) => s.spanContext().traceId === traceId)).toBe(true);
    expect(parentId(httpSpan)).toBeUndefined(); // the request is the root of its trace

    // The stored events carry the trace: VmCreated from the command, IpAllocated from the IPAM consume.
    const stream = cp.nats.subjects.eventsStream;
    const createdMsg = await cp.nats.jsm.streams.getMessage(stream, { seq: vmCreated.seq });
    const createdParent = TRACEPARENT.exec(createdMsg!.header.get('traceparent'));
    expect(createdParent?.[1]).toBe(traceId);
    expect(createdParent?.[2]).toBe(command!.spanContext().spanId);

    const allocated = (await cp.store.read(cp.store.subjects.evt('ipam', fx.clusterId))).find(
      (e) => e.type === 'IpAllocated' && (e.data as { vmId: string }).vmId === vmId,
    );
    expect(allocated).toBeDefined();
    const allocatedMsg = await cp.nats.jsm.streams.getMessage(stream, { seq: allocated!.seq });
    const allocatedParent = TRACEPARENT.exec(allocatedMsg!.header.get('traceparent'));
    expect(allocatedParent?.[1]).toBe(traceId);
    expect(allocatedParent?.[2]).toBe(consume.spanContext().spanId);
  });

  it('separate requests get separate traces, and a client traceparent is continued', async () => {
    exporter.reset();
    const a = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'trace-a', ownerId: 'cust-1' });
    const b = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'trace-b', ownerId: 'cust-1' });
    const clientTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const c = await http(
      'POST',
      `${cp.api}/vms`,
      { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'trace-c', ownerId: 'cust-1' },
      { traceparent: `00-${clientTrace}-00f067aa0ba902b7-01` },
    );
    for (const r of [a, b, c]) {
      expect(r.status).toBe(202);
      await settledVm(cp, r.body.id);
    }
    const httpSpans = await eventually(
      () => {
        const found = spans().filter((s) => s.name === 'HTTP POST /vms');
        return found.length === 3 ? found : undefined;
      },
      10000,
      50,
      'three HTTP spans',
    );
    const traces = httpSpans.map((s) => s.spanContext().traceId);
    expect(new Set(traces).size).toBe(3);
    expect(traces).toContain(clientTrace);
    const consumes = await eventually(
      () => {
        const found = spans().filter((s) => s.name === 'consume VmCreated');
        return found.length === 3 ? found : undefined;
      },
      10000,
      50,
      'three IPAM consume spans',
    );
    expect(new Set(consumes.map((s) => s.spanContext().traceId))).toEqual(new Set(traces));
  });
});
