/**
 * Environment of every control-plane service process (npm start, the systemd units, the scale bench).
 * glibc's malloc raises its mmap threshold after the first large free, so the buffers of a snapshot
 * (v8 serialisation, gzip: tens of MB at 100,000 VMs, every few seconds under load) and of large bus
 * messages then come from the main heap, which only shrinks from its top: freed, they stayed in the RSS
 * (~30–50 MB per service). A fixed threshold keeps every allocation ≥ 128 kB in its own mapping, returned
 * to the system when freed.
 */
export const SERVICE_MEMORY_ENV = { MALLOC_MMAP_THRESHOLD_: '131072' };
