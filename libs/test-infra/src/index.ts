/**
 * Real infrastructure for integration tests: every run gets its own NATS namespace (streams, subjects,
 * durables) and its own Postgres database, removed afterwards even when the test fails.
 */
import { pollUntil } from '@fabric/service-kit';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { Nats } from '@fabric/eventstore';

export function uniqueNs(prefix = 't'): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

export const natsUrl = () => process.env.NATS_URL ?? '127.0.0.1:4222';
export const adminDatabaseUrl = () => process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export async function openTestNats(ns = uniqueNs()): Promise<Nats> {
  const nats = await Nats.connect({ servers: natsUrl(), ns });
  await nats.ensureStreams();
  return nats;
}

export async function closeTestNats(nats: Nats | undefined): Promise<void> {
  if (!nats) return;
  await nats.destroyStreams().catch(() => undefined);
  await nats.close();
}

/** Creates a fresh database; returns its URL. */
export async function createTestDatabase(name = uniqueNs('fabric_t_')): Promise<{ name: string; url: string }> {
  const admin = new Client({ connectionString: adminDatabaseUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminDatabaseUrl());
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

export async function dropTestDatabase(name: string | undefined): Promise<void> {
  if (!name) return;
  const admin = new Client({ connectionString: adminDatabaseUrl() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Polls `fn` until it returns a truthy value or the timeout passes (no fixed sleeps in tests). */
export function eventually<T>(fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 15000, intervalMs = 50, what = 'condition'): Promise<T> {
  return pollUntil(fn, timeoutMs, what, intervalMs);
}
