// Named exclusive locks shared by every process using a store, kept as rows of the store database.
// Node has no flock, and a lock file plus a pid cannot be taken over safely (two waiters may both
// see it stale and both "break" it). Here the check "is the holder alive?" and the take-over happen
// inside one IMMEDIATE transaction, so they are atomic: a SIGKILLed holder's row stays behind and
// the next acquirer replaces it. Holders are identified by pid + process start time (process-id.ts).
//
// A lock is re-entrant within one async call chain (tracked with AsyncLocalStorage): code holding
// "build:X" may call something that takes "build:X" again. Two independent async tasks of one
// process exclude each other like two processes do, but they queue in memory first (first come,
// first served): only a lock held by another process is waited for by polling the database. With
// polling alone, tasks of one process that take the store-wide "gc" lock for a moment each (a
// temporary root per item) slept up to 200 ms between tries while the lock was long free.
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { StoreDb } from "./db.ts";
import { isAlive, selfId } from "./process-id.ts";

const held = new AsyncLocalStorage<ReadonlySet<string>>();

export interface LockOptions {
  signal?: AbortSignal;
  // Called once if the lock is busy, with the holder's pid (for "waiting for process N" messages).
  onWait?: (holderPid: number) => void;
}

export class Locks {
  private readonly db: StoreDb;
  // Per lock name, the end of this process's queue for it: settles when the last task in the queue
  // is done with the lock.
  private readonly queues = new Map<string, Promise<void>>();
  constructor(db: StoreDb) {
    this.db = db;
  }

  // Waits for this process's earlier tasks queued on the lock; returns what ends our turn.
  private async turn(name: string, signal?: AbortSignal): Promise<() => void> {
    const before = this.queues.get(name);
    let end!: () => void;
    const mine = new Promise<void>((resolve) => (end = resolve));
    const tail = (before ?? Promise.resolve()).then(() => mine);
    this.queues.set(name, tail);
    const done = () => {
      end();
      if (this.queues.get(name) === tail) this.queues.delete(name);
    };
    if (before) {
      try {
        await abortable(before, signal);
      } catch (err) {
        done(); // the tasks queued behind us go on
        throw err;
      }
    }
    return done;
  }

  private key(name: string): string {
    return `${this.db.file}\0${name}`;
  }

  isHeldHere(name: string): boolean {
    return held.getStore()?.has(this.key(name)) ?? false;
  }

  // Takes the lock if it is free or its holder is dead; returns the token, or undefined if busy.
  tryAcquire(name: string): string | undefined {
    const me = selfId();
    const seen = this.db.lock(name); // cheap read first: waiters poll, and most polls find it busy
    if (seen && isAlive(seen)) return undefined;
    return this.db.transaction(() => {
      const cur = this.db.lock(name);
      if (cur && isAlive(cur)) return undefined;
      const token = randomBytes(12).toString("hex");
      this.db.putLock({ name, pid: me.pid, start: me.start, token, acquiredAt: Date.now() });
      return token;
    });
  }

  release(name: string, token: string): void {
    this.db.transaction(() => this.db.deleteLock(name, token));
  }

  // Runs fn holding the lock, waiting (polling) while another live process or task holds it.
  async with<T>(name: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
    if (this.isHeldHere(name)) return fn();
    const done = await this.turn(name, options.signal);
    try {
      return await this.withTurn(name, fn, options);
    } finally {
      done();
    }
  }

  // Holding this process's turn: takes the lock, polling while another process holds it.
  private async withTurn<T>(name: string, fn: () => Promise<T>, options: LockOptions): Promise<T> {
    let token = this.tryAcquire(name);
    let delay = 5;
    let told = false;
    while (token === undefined) {
      if (!told && options.onWait) {
        told = true;
        const holder = this.db.lock(name);
        if (holder) options.onWait(holder.pid);
      }
      await sleep(delay, undefined, { signal: options.signal });
      delay = Math.min(delay * 2, 200);
      token = this.tryAcquire(name);
    }
    const inner = new Set(held.getStore() ?? []);
    inner.add(this.key(name));
    try {
      return await held.run(inner, fn);
    } finally {
      this.release(name, token);
    }
  }

  // Runs fn holding the lock if it can be had right now; otherwise returns undefined without waiting.
  async tryWith<T>(name: string, fn: () => Promise<T>): Promise<{ value: T } | undefined> {
    if (this.isHeldHere(name)) return { value: await fn() };
    if (this.queues.has(name)) return undefined; // a task of this process holds it or waits for it
    const done = await this.turn(name);
    try {
      return await this.tryWithTurn(name, fn);
    } finally {
      done();
    }
  }

  private async tryWithTurn<T>(name: string, fn: () => Promise<T>): Promise<{ value: T } | undefined> {
    const token = this.tryAcquire(name);
    if (token === undefined) return undefined;
    const inner = new Set(held.getStore() ?? []);
    inner.add(this.key(name));
    try {
      return { value: await held.run(inner, fn) };
    } finally {
      this.release(name, token);
    }
  }

  // Drops rows whose holder is dead (they would be taken over anyway; this keeps the table small).
  pruneDead(): number {
    return this.db.transaction(() => {
      let n = 0;
      for (const row of this.db.locks()) if (!isAlive(row) && this.db.deleteLock(row.name, row.token)) n++;
      return n;
    });
  }
}

// p, or a rejection as soon as the signal aborts.
function abortable(p: Promise<void>, signal?: AbortSignal): Promise<void> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
      () => {}, // queue promises never reject
    );
  });
}
