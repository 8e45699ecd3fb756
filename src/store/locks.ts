// Named exclusive locks shared by every process using a store, kept as rows of the store database.
// Node has no flock, and a lock file plus a pid cannot be taken over safely (two waiters may both
// see it stale and both "break" it). Here the check "is the holder alive?" and the take-over happen
// inside one IMMEDIATE transaction, so they are atomic: a SIGKILLed holder's row stays behind and
// the next acquirer replaces it. Holders are identified by pid + process start time (process-id.ts).
//
// A lock is re-entrant within one async call chain (tracked with AsyncLocalStorage): code holding
// "build:X" may call something that takes "build:X" again. Two independent async tasks of one
// process exclude each other like two processes do.
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
  constructor(db: StoreDb) {
    this.db = db;
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
