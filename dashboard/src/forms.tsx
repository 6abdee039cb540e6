/** The write forms: create a VM, migrate a VM, drain a node. Server validation is the authority; its errors show inline. */
import { type FormEvent, useState } from 'react';
import { ApiError, type Node, post } from './api';
import { DryRunPreview, ErrorBox, Field } from './components';
import { useLive } from './live';

function useSubmit<T>(fn: () => Promise<T>, onDone: (r: T) => void) {
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const { refresh } = useLive();
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      const r = await fn();
      refresh();
      onDone(r);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'client-error', (err as Error).message));
    } finally {
      setBusy(false);
    }
  };
  // An event handler: run() never rejects (a failure shows in the form), so it is not awaited.
  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    void run();
  };
  return { error, busy, submit, setError };
}

export function CreateVmForm({ clusterId, nodes, onCreated }: { clusterId: string; nodes: Node[]; onCreated: (id: string) => void }) {
  const active = nodes.filter((n) => n.status === 'active');
  const [form, setForm] = useState({ name: '', ownerId: '', nodeId: '', addressing: '', driver: 'netns', ip: '' });
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  const nodeId = form.nodeId || active[0]?.id || '';
  const { error, busy, submit } = useSubmit(
    () =>
      post<{ id: string }>('/vms', {
        clusterId,
        nodeId,
        name: form.name,
        ownerId: form.ownerId,
        // Empty: the cluster's default (dual-stack when it has pools of both families).
        ...(form.addressing ? { addressing: form.addressing } : {}),
        ...(form.driver ? { driver: form.driver } : {}),
        ...(form.ip.trim() ? { ip: form.ip.trim() } : {}),
      }),
    (r) => {
      setForm((f) => ({ ...f, name: '', ip: '' }));
      onCreated(r.id);
    },
  );
  const fe = error?.fields ?? {};
  return (
    <form onSubmit={submit} className="form" data-testid="create-vm-form" aria-label="Create a VM" noValidate>
      <div className="form-grid">
        <Field label="Name" name="name" error={fe.name} hint="letters, digits and dashes">
          <input id="f-name" name="name" value={form.name} onChange={set('name')} autoComplete="off" required aria-invalid={!!fe.name} data-testid="vm-name" />
        </Field>
        <Field label="Owner" name="ownerId" error={fe.ownerId} hint="customer or project id">
          <input
            id="f-ownerId"
            name="ownerId"
            value={form.ownerId}
            onChange={set('ownerId')}
            autoComplete="off"
            required
            aria-invalid={!!fe.ownerId}
            data-testid="vm-owner"
          />
        </Field>
        <Field label="Node" name="nodeId" error={fe.nodeId}>
          <select id="f-nodeId" name="nodeId" value={nodeId} onChange={set('nodeId')} aria-invalid={!!fe.nodeId} data-testid="vm-node">
            {active.length === 0 && <option value="">no active node</option>}
            {active.map((n) => (
              <option key={n.id} value={n.id}>
                {n.name} ({n.underlayIp})
              </option>
            ))}
          </select>
        </Field>
        <Field label="Addresses" name="addressing" error={fe.addressing} hint="default: one of each family when the cluster has both">
          <select id="f-addressing" name="addressing" value={form.addressing} onChange={set('addressing')} data-testid="vm-addressing">
            <option value="">default</option>
            <option value="dual-stack">dual-stack (/32 and /128)</option>
            <option value="ipv4">IPv4 only (/32)</option>
            <option value="ipv6">IPv6 only (/128)</option>
          </select>
        </Field>
        <Field label="Driver" name="driver" error={fe.driver} hint="netns: a namespace (the lab)">
          <select id="f-driver" name="driver" value={form.driver} onChange={set('driver')} data-testid="vm-driver">
            <option value="netns">netns</option>
            <option value="tap">tap</option>
            <option value="veth">veth</option>
          </select>
        </Field>
        <Field label="Address (optional)" name="ip" error={fe.ip} hint="empty: the next free one from the pools">
          <input id="f-ip" name="ip" value={form.ip} onChange={set('ip')} autoComplete="off" inputMode="decimal" aria-invalid={!!fe.ip} data-testid="vm-ip" />
        </Field>
      </div>
      <ErrorBox error={error} title="The VM was not created" />
      <div className="form-actions">
        <button className="btn primary" type="submit" disabled={busy} data-testid="create-vm-submit">
          {busy ? 'Creating…' : 'Create VM'}
        </button>
      </div>
    </form>
  );
}

export function MigrateVmForm({ vmId, currentNodeId, nodes }: { vmId: string; currentNodeId: string; nodes: Node[] }) {
  const others = nodes.filter((n) => n.id !== currentNodeId && n.status === 'active');
  const [nodeId, setNodeId] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const target = nodeId || others[0]?.id || '';
  const { error, busy, submit } = useSubmit(
    () => post(`/vms/${vmId}/migrate`, { nodeId: target }),
    () => setDone(nodes.find((n) => n.id === target)?.name ?? target),
  );
  return (
    <form onSubmit={submit} className="form inline-form" data-testid="migrate-form" aria-label="Migrate the VM">
      <Field label="Move to node" name="migrate-node" error={error?.fields?.nodeId}>
        <select id="f-migrate-node" value={target} onChange={(e) => setNodeId(e.target.value)} data-testid="migrate-node">
          {others.length === 0 && <option value="">no other active node</option>}
          {others.map((n) => (
            <option key={n.id} value={n.id}>
              {n.name} ({n.underlayIp})
            </option>
          ))}
        </select>
      </Field>
      <button className="btn" type="submit" disabled={busy || !target} data-testid="migrate-submit">
        {busy ? 'Migrating…' : 'Migrate'}
      </button>
      {done && !error && (
        <p className="notice ok" role="status">
          Migration to {done} requested: the new node announces first, then the old one withdraws.
        </p>
      )}
      <ErrorBox error={error} title="Migration refused" />
    </form>
  );
}

type Maintenance = 'drain' | 'evacuate' | 'undrain';
const MAINTENANCE: Record<Maintenance, { label: string; busy: string; confirm: (name: string) => string; danger: boolean }> = {
  drain: {
    label: 'Drain node',
    busy: 'Draining…',
    confirm: (n) => `Drain ${n}? New VMs will no longer be placed on it; existing VMs stay until migrated.`,
    danger: true,
  },
  evacuate: {
    label: 'Evacuate node',
    busy: 'Evacuating…',
    danger: true,
    confirm: (n) => `Evacuate ${n}? It is drained and every VM migrates (make-before-break) to the active node with the fewest VMs, a few at a time.`,
  },
  undrain: {
    label: 'Return to service',
    busy: 'Returning…',
    confirm: (n) => `Return ${n} to service? New VMs may be placed on it again; an evacuation stops.`,
    danger: false,
  },
};

/** Drain, evacuate, return to service: what the node's status allows, each behind a confirmation. */
export function DrainNodeButton({ node }: { node: Node & { evacuation?: { waiting: number; migrating: number } | null } }) {
  const [confirming, setConfirming] = useState<Maintenance | null>(null);
  const { error, busy, submit } = useSubmit(
    () => post(`/nodes/${node.id}/${confirming}`),
    () => setConfirming(null),
  );
  if (node.status === 'left') return <p className="muted">This node has left the cluster.</p>;
  const actions: Maintenance[] = node.status === 'active' ? ['drain', 'evacuate'] : node.status === 'drained' ? ['evacuate', 'undrain'] : ['undrain'];
  return (
    <div className="drain" data-testid="drain">
      {node.status === 'drained' && <p className="muted">This node is drained: no new VMs are placed on it.</p>}
      {node.status === 'evacuating' && (
        <p className="notice" role="status" data-testid="evacuation-progress">
          Evacuating: {node.evacuation?.waiting ?? 0} VM(s) waiting, {node.evacuation?.migrating ?? 0} migrating.
        </p>
      )}
      {confirming ? (
        <div className="confirm" role="group" aria-label={`Confirm: ${MAINTENANCE[confirming].label}`}>
          <span>{MAINTENANCE[confirming].confirm(node.name)}</span>
          <DryRunPreview method="POST" path={`/nodes/${node.id}/${confirming}`} />
          <button
            className={`btn${MAINTENANCE[confirming].danger ? ' danger' : ''}`}
            onClick={() => submit()}
            disabled={busy}
            data-testid={`${confirming}-confirm`}
          >
            {busy ? MAINTENANCE[confirming].busy : MAINTENANCE[confirming].label}
          </button>
          <button className="btn ghost" onClick={() => setConfirming(null)} disabled={busy}>
            Cancel
          </button>
        </div>
      ) : (
        actions.map((a) => (
          <button key={a} className="btn" onClick={() => setConfirming(a)} data-testid={`${a}-button`}>
            {MAINTENANCE[a].label}…
          </button>
        ))
      )}
      <ErrorBox error={error} title="Refused" />
    </div>
  );
}
