import { useState } from 'react';
import { ApiError, type FloatingAddress, type Node, type PrivateAttachment, request, type Vm, type VmWithHistory, VM_STEPS } from '../api';
import { Badge, Card, DryRunPreview, ErrorBox, fmtDateTime, fmtTime, Loading, useApi } from '../components';
import { MigrateVmForm } from '../forms';
import { Link } from '../router';

const STEP_TEXT: Record<string, string> = {
  requested: 'Requested',
  'ip-allocated': 'Address allocated',
  applied: 'Applied on the node',
  announced: 'Announced to the RRs',
  'at-core': 'Installed at the core',
};

/** Statuses a VM leaves by itself: the page re-reads it until it settles. */
const IN_TRANSIT = new Set(['requested', 'ip-allocated', 'applied', 'announced', 'migrating']);
const inTransit = (v: VmWithHistory) => IN_TRANSIT.has(v.status);

export function VmPage({ clusterId, vmId }: { clusterId: string; vmId: string }) {
  const vm = useApi<VmWithHistory>(`/vms/${vmId}`, { pollWhile: inTransit });
  const nodes = useApi<Node[]>(`/clusters/${clusterId}/nodes`);
  const privateNets = useApi<PrivateAttachment[]>(`/vms/${vmId}/private-networks`);
  const nodeName = (id?: string) => (id ? (nodes.data?.find((n) => n.id === id)?.name ?? id.slice(0, 8)) : '—');
  if (vm.error && !vm.data) return <ErrorBox error={vm.error} title="Cannot load the VM" />;
  if (!vm.data) return <Loading />;
  const v = vm.data;
  return (
    <>
      <h1 className="page-title">
        VM <span data-testid="vm-name-title">{v.name}</span> <Badge value={v.status} testId="vm-status" />
      </h1>
      <dl className="facts">
        <div>
          <dt>Address</dt>
          <dd>
            <code data-testid="vm-ip-value">{v.ip ?? 'not yet allocated'}</code>
          </dd>
        </div>
        <div>
          <dt>Node</dt>
          <dd>
            <Link to={`/clusters/${clusterId}/nodes/${v.nodeId}`}>{nodeName(v.nodeId)}</Link>
            {v.previousNodeId && <> (from {nodeName(v.previousNodeId)})</>}
          </dd>
        </div>
        <div>
          <dt>Owner</dt>
          <dd>{v.ownerId}</dd>
        </div>
        <div>
          <dt>Driver</dt>
          <dd>
            {v.driver} · IPv{v.family}
          </dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>{fmtDateTime(v.createdAt)}</dd>
        </div>
        <div>
          <dt>Id</dt>
          <dd>
            <code className="small">{v.id}</code>
          </dd>
        </div>
      </dl>
      {v.blackhole && (
        <div className="card" role="status" data-testid="vm-blackhole">
          <strong>Blackholed</strong> since {fmtDateTime(v.blackhole.since)} by <code>{v.blackhole.actor ?? 'unknown'}</code>: {v.blackhole.reason}.{' '}
          <span className="muted">The core discards traffic to {v.ip ?? 'its address'} (RTBH).</span>
        </div>
      )}
      {v.reason && <ErrorBox error={new ApiError(0, v.status, v.reason)} title="This VM failed" testId="vm-reason" />}
      {!!v.addresses?.length && (
        <Card title="Addresses" testId="vm-addresses">
          <table className="table">
            <caption className="sr-only">Every public address of the VM: the primary, then the extra ones, each with its route status</caption>
            <thead>
              <tr>
                <th scope="col">Address</th>
                <th scope="col">Family</th>
                <th scope="col">Primary</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {v.addresses.map((a, i) => (
                <tr key={a.requestId ?? `primary-${i}`}>
                  <td>
                    <code>{a.ip ?? '-'}</code>
                  </td>
                  <td>IPv{a.family}</td>
                  <td>{a.primary ? 'yes' : ''}</td>
                  <td>
                    {a.status === 'releasing' && a.releaseAt ? `releasing, held until ${fmtDateTime(a.releaseAt)}` : a.status}
                    {a.reason && <span className="muted"> {a.reason}</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
      )}
      <FloatingAddresses vm={v} onChange={vm.reload} />
      {!!privateNets.data?.length && (
        <Card title="Private networks" testId="vm-private-networks">
          <table className="table">
            <caption className="sr-only">The VM's addresses in its owner's private networks</caption>
            <thead>
              <tr>
                <th scope="col">Network</th>
                <th scope="col">VNI</th>
                <th scope="col">Address</th>
                <th scope="col">MAC</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {privateNets.data.map((a) => (
                <tr key={`${a.networkId}/${a.ip}`}>
                  <td>
                    {a.name ?? a.networkId.slice(0, 8)} {a.cidr && <code className="small">{a.cidr}</code>}
                  </td>
                  <td>{a.vni}</td>
                  <td>
                    <code>{a.ip}</code>
                  </td>
                  <td>
                    <code className="small">{a.mac}</code>
                  </td>
                  <td>{a.status === 'releasing' ? `held until ${fmtDateTime(a.releaseAt)}` : a.status}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
      )}
      <Card title="Path to the core" testId="vm-timeline-card">
        <Timeline vm={v} />
      </Card>
      <div className="grid-2">
        <Card title="History">
          <table className="table" data-testid="vm-history">
            <caption className="sr-only">Every status change with the event that caused it</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Status</th>
                <th scope="col">Event</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {(v.history ?? []).map((h) => (
                <tr key={`${h.seq}-${h.status}`}>
                  <td className="small">
                    <time dateTime={h.at}>{fmtTime(h.at)}</time>
                  </td>
                  <td>
                    <Badge value={h.status} />
                  </td>
                  <td>
                    <code className="small">{h.event}</code>
                  </td>
                  <td className="small">{h.detail ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
        {v.status !== 'deleted' && (
          <Card title="Actions">
            {nodes.data && <MigrateVmForm vmId={v.id} currentNodeId={v.nodeId} nodes={nodes.data} />}
            <hr />
            <Blackhole vm={v} onChange={vm.reload} />
            <hr />
            <DeleteVm vm={v} />
          </Card>
        )}
      </div>
    </>
  );
}

/** requested → ip-allocated → applied → announced → at-core, each with the time it was first reached. */
function Timeline({ vm }: { vm: VmWithHistory }) {
  const history = vm.history ?? [];
  // After a migration the path restarts: show the latest pass through the steps.
  const lastMig = history.map((h) => h.status).lastIndexOf('migrating');
  const relevant = lastMig >= 0 ? history.slice(lastMig) : history;
  const reached = new Map<string, string>();
  for (const h of relevant) if (!reached.has(h.status)) reached.set(h.status, h.at);
  if (lastMig >= 0)
    for (const h of history) if ((h.status === 'requested' || h.status === 'ip-allocated') && !reached.has(h.status)) reached.set(h.status, h.at);
  const currentIdx = (VM_STEPS as readonly string[]).indexOf(vm.status);
  const start = reached.get('requested') ?? vm.createdAt;
  return (
    <ol className="timeline" data-testid="vm-timeline">
      {VM_STEPS.map((step, i) => {
        // A later step implies the earlier ones (the projection may skip one, e.g. announced straight to at-core).
        const done = reached.has(step) || (currentIdx >= i && currentIdx >= 0);
        const at = reached.get(step);
        const state = done ? 'done' : vm.status === 'failed' ? 'failed' : i === currentIdx + 1 || (currentIdx < 0 && i === 0) ? 'current' : 'pending';
        return (
          <li
            key={step}
            className={`step step-${state}`}
            data-testid={`timeline-${step}`}
            data-state={state}
            aria-current={state === 'current' ? 'step' : undefined}
          >
            <span className="step-dot" aria-hidden="true">
              {done ? '✓' : i + 1}
            </span>
            <span className="step-name">{STEP_TEXT[step]}</span>
            <code className="step-code">{step}</code>
            <span className="step-time">
              {at ? (
                <>
                  <time dateTime={at}>{fmtTime(at)}</time>
                  {step !== 'requested' && start && (
                    <span className="muted"> +{((new Date(at).getTime() - new Date(start).getTime()) / 1000).toFixed(1)}s</span>
                  )}
                </>
              ) : done ? (
                'passed'
              ) : state === 'failed' ? (
                'not reached'
              ) : (
                'waiting'
              )}
            </span>
          </li>
        );
      })}
    </ol>
  );
}

/** The owner's floating addresses in the VM's cluster: attach one here (or move it here), detach the ones attached here. */
function FloatingAddresses({ vm, onChange }: { vm: Vm; onChange?: () => void }) {
  const list = useApi<FloatingAddress[]>(`/floating-addresses?${new URLSearchParams({ owner: vm.ownerId, clusterId: vm.clusterId })}`);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  // Never rejects (a refusal shows as an error): the buttons do not await it.
  const send = async (f: FloatingAddress, action: 'attach' | 'detach') => {
    setBusy(f.id);
    setError(null);
    try {
      await request('POST', `/floating-addresses/${f.id}/${action}`, action === 'attach' ? { vmId: vm.id } : undefined);
      list.reload();
      onChange?.();
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setBusy(null);
    }
  };
  if (!list.data?.length) return null;
  return (
    <Card title="Floating addresses" testId="vm-floating-addresses">
      <table className="table">
        <caption className="sr-only">The owner's floating addresses in this cluster: attach one to this VM, or detach it</caption>
        <thead>
          <tr>
            <th scope="col">Address</th>
            <th scope="col">Status</th>
            <th scope="col">Route</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          {list.data.map((f) => {
            const here = f.vmId === vm.id;
            return (
              <tr key={f.id} data-testid={`floating-${f.ip}`}>
                <td>
                  <code>{f.ip}</code>
                </td>
                <td>
                  {here
                    ? f.status === 'moving'
                      ? 'moving here'
                      : 'attached here'
                    : f.fromVmId === vm.id
                      ? 'moving away'
                      : f.vmId
                        ? 'on another VM'
                        : f.status}
                </td>
                <td>{f.route}</td>
                <td>
                  {f.status !== 'releasing' &&
                    (here ? (
                      <button className="btn" disabled={busy === f.id} onClick={() => void send(f, 'detach')} data-testid={`floating-detach-${f.ip}`}>
                        Detach
                      </button>
                    ) : (
                      <button
                        className="btn"
                        disabled={busy === f.id || f.status === 'moving'}
                        onClick={() => void send(f, 'attach')}
                        data-testid={`floating-attach-${f.ip}`}
                      >
                        {f.vmId ? 'Move here' : 'Attach here'}
                      </button>
                    ))}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <ErrorBox error={error} title="Refused" testId="floating-error" />
    </Card>
  );
}

/** RTBH: blackhole the address with a reason (kept in the audit), or lift it. */
function Blackhole({ vm, onChange }: { vm: Vm; onChange?: () => void }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const send = async (method: 'POST' | 'DELETE') => {
    setBusy(true);
    setError(null);
    try {
      await request(method, `/vms/${vm.id}/blackhole`, method === 'POST' ? { reason: reason.trim() } : undefined);
      setReason('');
      onChange?.();
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      {vm.blackhole ? (
        <button className="btn" onClick={() => void send('DELETE')} disabled={busy} data-testid="lift-blackhole">
          {busy ? 'Lifting…' : 'Lift blackhole'}
        </button>
      ) : (
        <form
          className="filters"
          onSubmit={(e) => {
            e.preventDefault();
            void send('POST');
          }}
        >
          <label htmlFor="blackhole-reason">Blackhole reason</label>
          <input
            id="blackhole-reason"
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            placeholder="e.g. udp flood 12 Gbit/s"
            data-testid="blackhole-reason"
          />
          <button className="btn danger-outline" type="submit" disabled={busy} data-testid="blackhole-vm">
            {busy ? 'Blackholing…' : 'Blackhole address'}
          </button>
        </form>
      )}
      <ErrorBox error={error} title="Blackhole refused" testId="blackhole-error" />
    </div>
  );
}

function DeleteVm({ vm }: { vm: Vm }) {
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  // Never rejects (a refusal shows as an error): the button's handler does not await it.
  const del = async () => {
    setBusy(true);
    setError(null);
    try {
      await request('DELETE', `/vms/${vm.id}`);
      setConfirm(false);
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      {confirm ? (
        <div className="confirm" role="group" aria-label="Confirm delete">
          <span>
            Delete <strong>{vm.name}</strong>? Its route is withdrawn and {vm.ip ?? 'its address'} is released after the cool-down.
          </span>
          <DryRunPreview method="DELETE" path={`/vms/${vm.id}`} />
          <button className="btn danger" onClick={() => void del()} disabled={busy}>
            {busy ? 'Deleting…' : 'Delete VM'}
          </button>
          <button className="btn ghost" onClick={() => setConfirm(false)}>
            Cancel
          </button>
        </div>
      ) : (
        <button className="btn danger-outline" onClick={() => setConfirm(true)} data-testid="delete-vm">
          Delete VM…
        </button>
      )}
      <ErrorBox error={error} title="Delete refused" />
    </div>
  );
}
