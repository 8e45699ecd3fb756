// The store database: which items are valid, what they reference, and the build/gc locks.
// An item is valid only if it has a row here AND its directory exists; rows are written last when
// registering and removed first-thing-after-the-rename when deleting (see store.ts).
// GC roots are not here: they are symlinks under <store>/.beamix/roots.
//
// A store the user cannot write (another user's, a read-only mount) is opened read-only: queries
// work, every write fails with one line. Errors of the disk and of the file (full, damaged, not a
// database) are one line too (io-errors.ts).
import { pathToFileURL } from "node:url";
import { dirname } from "node:path";
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { BeamixError } from "../errors.ts";
import { isSqliteError, sqliteCode, storeError } from "./io-errors.ts";

// One entry per schema version; entry i moves the schema from version i to i + 1.
// Never edit a released entry: append a new one.
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE items (
    id            INTEGER PRIMARY KEY,
    path          TEXT NOT NULL UNIQUE,    -- directory name in the store: <drv hash>-<name>-<version>
    drv_hash      TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    nar_hash      TEXT NOT NULL,           -- output hash: SHA-256 hex of the tree serialization (nar.ts)
    nar_size      INTEGER NOT NULL,
    registered_at INTEGER NOT NULL,        -- milliseconds since the epoch
    deriver       TEXT                     -- JSON chosen by the builder, describing how it was made
  ) STRICT;
  CREATE TABLE refs (
    referrer  INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    reference INTEGER NOT NULL REFERENCES items(id) ON DELETE RESTRICT,
    PRIMARY KEY (referrer, reference)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX refs_by_reference ON refs(reference);
  CREATE TABLE locks (
    name        TEXT PRIMARY KEY,          -- "gc" or "build:<drv hash>"
    pid         INTEGER NOT NULL,
    start       TEXT NOT NULL,             -- holder's process start time (process-id.ts)
    token       TEXT NOT NULL,             -- tells apart two holders in one process
    acquired_at INTEGER NOT NULL
  ) STRICT;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export interface ItemRow {
  path: string; // directory name, not absolute
  drvHash: string;
  name: string;
  version: string;
  narHash: string;
  narSize: number;
  registeredAt: number;
  deriver: unknown;
}

export interface LockRow {
  name: string;
  pid: number;
  start: string;
  token: string;
  acquiredAt: number;
}

type Row = Record<string, SQLInputValue>;

function toItem(r: Row): ItemRow {
  return {
    path: r.path as string,
    drvHash: r.drv_hash as string,
    name: r.name as string,
    version: r.version as string,
    narHash: r.nar_hash as string,
    narSize: r.nar_size as number,
    registeredAt: r.registered_at as number,
    deriver: r.deriver === null ? null : JSON.parse(r.deriver as string),
  };
}

function toLock(r: Row): LockRow {
  return { name: r.name as string, pid: r.pid as number, start: r.start as string, token: r.token as string, acquiredAt: r.acquired_at as number };
}

export interface OpenDbOptions {
  busyTimeoutMs?: number;
  readOnly?: boolean;
}

// A database file with no page yet (just created, or left empty by a crash before its first write).
function isEmptyDatabase(db: DatabaseSync): boolean {
  return (db.prepare("PRAGMA page_count").get() as Row).page_count === 0;
}

export class StoreDb {
  readonly file: string;
  readonly readOnly: boolean;
  private readonly db: DatabaseSync;
  // Each statement is prepared once: preparing took ~16 µs a call, running one ~2 µs, and a run
  // asks whether an item is valid hundreds of times.
  private readonly statements = new Map<string, StatementSync>();

  private constructor(file: string, db: DatabaseSync, readOnly: boolean) {
    this.file = file;
    this.db = db;
    this.readOnly = readOnly;
  }

  // The database error as one line naming the file, when it is a condition and not a bug.
  private static error(err: unknown, file: string): unknown {
    return storeError(err, `store database ${file}`, dirname(file));
  }

  static open(file: string, options: OpenDbOptions = {}): StoreDb {
    const readOnly = options.readOnly ?? false;
    const settings = { timeout: options.busyTimeoutMs ?? 30_000, enableForeignKeyConstraints: true, readOnly };
    let db: DatabaseSync | undefined;
    try {
      try {
        db = new DatabaseSync(file, settings);
        if (readOnly) db.prepare("PRAGMA user_version").get(); // opens the file now
      } catch (err) {
        // A WAL database cannot be opened read-only where its -shm file is missing and cannot be
        // made (a read-only directory: SQLITE_CANTOPEN, or SQLITE_READONLY_DIRECTORY): then it is
        // read as immutable. Nobody can be writing it from here; a writer elsewhere (another
        // user) is not seen until the next run.
        if (!(readOnly && isSqliteError(err) && (sqliteCode(err) === 14 || sqliteCode(err) === 8))) throw err;
        db?.close();
        const url = pathToFileURL(file);
        url.search = "?immutable=1";
        db = new DatabaseSync(url, settings);
        db.prepare("PRAGMA user_version").get();
      }
      if (!readOnly) {
        // A new database is switched to WAL in a rollback-journal transaction, synced four
        // times (~30 ms when the run has written much before it). It holds nothing yet, and
        // nothing it is given before its first checkpoint is synced anyway: no syncs.
        if (isEmptyDatabase(db)) db.exec("PRAGMA synchronous = OFF");
        db.exec("PRAGMA journal_mode = WAL");
        // With WAL, NORMAL never corrupts; a power loss may only drop the last commits.
        db.exec("PRAGMA synchronous = NORMAL");
      }
      const store = new StoreDb(file, db, readOnly);
      store.migrate();
      return store;
    } catch (err) {
      db?.close();
      throw StoreDb.error(err, file);
    }
  }

  private stmt(sql: string): StatementSync {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  private userVersion(): number {
    return (this.stmt("PRAGMA user_version").get() as Row).user_version as number;
  }

  private migrate(): void {
    for (;;) {
      const current = this.userVersion();
      if (current > SCHEMA_VERSION) {
        throw new BeamixError(`${this.file}: store database schema version ${current} is newer than this beamix supports (${SCHEMA_VERSION})`);
      }
      if (current === SCHEMA_VERSION) return;
      if (this.readOnly) throw new BeamixError(`${this.file}: the store database needs upgrading to schema version ${SCHEMA_VERSION}, and the store is read-only`);
      // Another process may be migrating too: re-read the version once holding the write lock.
      this.transaction(() => {
        const v = this.userVersion();
        if (v !== current) return;
        this.db.exec(MIGRATIONS[v]);
        this.db.exec(`PRAGMA user_version = ${v + 1}`);
      });
    }
  }

  // A write transaction (BEGIN IMMEDIATE takes the write lock up front, so the reads inside see a
  // state no other process can change before COMMIT). Nested calls join the outer transaction.
  // Errors of the disk (full, read-only) come out as one line naming the database.
  transaction<T>(fn: () => T): T {
    if (this.db.isTransaction) return fn();
    if (this.readOnly) throw new BeamixError(`${this.file}: the store is read-only`);
    try {
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const result = fn();
        this.db.exec("COMMIT");
        return result;
      } catch (err) {
        if (this.db.isTransaction) this.db.exec("ROLLBACK");
        throw err;
      }
    } catch (err) {
      throw StoreDb.error(err, this.file);
    }
  }

  schemaVersion(): number {
    return this.userVersion();
  }

  item(path: string): ItemRow | undefined {
    const r = this.stmt("SELECT * FROM items WHERE path = ?").get(path) as Row | undefined;
    return r && toItem(r);
  }

  itemByDrvHash(drvHash: string): ItemRow | undefined {
    const r = this.stmt("SELECT * FROM items WHERE drv_hash = ?").get(drvHash) as Row | undefined;
    return r && toItem(r);
  }

  items(): ItemRow[] {
    return (this.stmt("SELECT * FROM items ORDER BY path").all() as Row[]).map(toItem);
  }

  // The rows whose deriver JSON contains `text`, found by SQLite without parsing every deriver.
  itemsWithDeriverMentioning(text: string): ItemRow[] {
    return (this.stmt("SELECT * FROM items WHERE instr(deriver, ?) > 0 ORDER BY path").all(text) as Row[]).map(toItem);
  }

  // Inserts an item and its references (directory names of items that must already have rows).
  insertItem(row: ItemRow, references: readonly string[]): void {
    this.transaction(() => {
      const r = this.stmt(
        `INSERT INTO items (path, drv_hash, name, version, nar_hash, nar_size, registered_at, deriver)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      ).get(row.path, row.drvHash, row.name, row.version, row.narHash, row.narSize, row.registeredAt, row.deriver === undefined ? null : JSON.stringify(row.deriver)) as Row;
      const addRef = this.stmt("INSERT OR IGNORE INTO refs (referrer, reference) SELECT ?, id FROM items WHERE path = ?");
      for (const ref of references) {
        if (ref === row.path) continue;
        if (addRef.run(r.id, ref).changes === 0 && !this.item(ref)) {
          throw new BeamixError(`cannot register ${row.path}: its reference ${ref} is not a valid store item`);
        }
      }
    });
  }

  // Replaces what an item's row says about how it was made.
  updateDeriver(path: string, deriver: unknown): void {
    this.transaction(() => this.stmt("UPDATE items SET deriver = ? WHERE path = ?").run(deriver === undefined ? null : JSON.stringify(deriver), path));
  }

  // Deletes an item's row (and its outgoing references). Fails if another row still references it.
  deleteItem(path: string): boolean {
    return this.stmt("DELETE FROM items WHERE path = ?").run(path).changes > 0;
  }

  references(path: string): string[] {
    const rows = this.stmt(
      `SELECT t.path FROM items f JOIN refs r ON r.referrer = f.id JOIN items t ON t.id = r.reference
       WHERE f.path = ? ORDER BY t.path`,
    ).all(path) as Row[];
    return rows.map((r) => r.path as string);
  }

  referrers(path: string): string[] {
    const rows = this.stmt(
      `SELECT f.path FROM items t JOIN refs r ON r.reference = t.id JOIN items f ON f.id = r.referrer
       WHERE t.path = ? ORDER BY f.path`,
    ).all(path) as Row[];
    return rows.map((r) => r.path as string);
  }

  // Every reference edge, as directory names.
  edges(): Array<[from: string, to: string]> {
    const rows = this.stmt("SELECT f.path AS f, t.path AS t FROM refs r JOIN items f ON f.id = r.referrer JOIN items t ON t.id = r.reference").all() as Row[];
    return rows.map((r) => [r.f as string, r.t as string]);
  }

  // The given items and everything they reference, transitively (directory names, sorted).
  closure(paths: readonly string[]): string[] {
    const rows = this.stmt(
      `WITH RECURSIVE c(id) AS (
         SELECT id FROM items WHERE path IN (SELECT value FROM json_each(?))
         UNION SELECT r.reference FROM refs r JOIN c ON r.referrer = c.id)
       SELECT path FROM items JOIN c USING (id) ORDER BY path`,
    ).all(JSON.stringify(paths)) as Row[];
    return rows.map((r) => r.path as string);
  }

  lock(name: string): LockRow | undefined {
    const r = this.stmt("SELECT * FROM locks WHERE name = ?").get(name) as Row | undefined;
    return r && toLock(r);
  }

  locks(): LockRow[] {
    return (this.stmt("SELECT * FROM locks ORDER BY name").all() as Row[]).map(toLock);
  }

  putLock(row: LockRow): void {
    this.stmt("INSERT OR REPLACE INTO locks (name, pid, start, token, acquired_at) VALUES (?, ?, ?, ?, ?)").run(row.name, row.pid, row.start, row.token, row.acquiredAt);
  }

  deleteLock(name: string, token: string): boolean {
    return this.stmt("DELETE FROM locks WHERE name = ? AND token = ?").run(name, token).changes > 0;
  }
}
