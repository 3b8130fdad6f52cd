/**
 * DefinitionStore on SQLite: definitions stored by content hash, a `latest` pointer per process
 * name (moved back by a rollback), the source last registered under each name, and the errors of a
 * rejected file kept so they can be asked for. A version's pins are counted over the instances'
 * `definition` column (index instances_by_definition).
 */
import { processNameFromKey } from "../language/index.js";
import type { Definition } from "../language/model.js";
import type {
  Catalogue,
  DefinitionCatalogue,
  DefinitionStore,
  LatestMove,
  Registration,
  VersionPins,
} from "../ports.js";
import { readRegistration, storedDefinition } from "../runtime/registration.js";
import {
  matchVersion,
  onlyMatch,
  PIN_COUNT_CAP,
  refuseLatest,
  refusePinned,
  refuseShared,
  tallyPins,
} from "../runtime/versions.js";
import type { Db } from "./database.js";

export class SqliteDefinitionStore implements DefinitionStore, DefinitionCatalogue {
  private readonly parsed = new Map<string, Definition>();
  private readonly statements;

  constructor(
    private readonly db: Db,
    /**
     * Runs a write from outside the engine's pump (a rollback, a deletion) as launches are run:
     * resolved once committed, not left in a transaction of the pump's that may roll back.
     */
    private readonly write: <T>(fn: () => Promise<T>) => Promise<T> = (fn) => fn(),
  ) {
    this.statements = {
      put: db.prepare(
        "INSERT OR IGNORE INTO definitions (hash, name, source, created_at) VALUES (?, ?, ?, ?)",
      ),
      latest: db.prepare(
        "INSERT INTO latest (name, hash, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
      ),
      clearRejection: db.prepare("DELETE FROM rejections WHERE name = ?"),
      reject: db.prepare(
        "INSERT INTO rejections (name, problems, at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET problems = excluded.problems, at = excluded.at",
      ),
      getLatest: db.prepare<[string], { hash: string }>("SELECT hash FROM latest WHERE name = ?"),
      byPrefix: db.prepare<[{ name: string; prefix: string }], { hash: string }>(
        // A plain prefix, as DynamoDB's begins_with: LIKE would ignore case and read _ and % as wildcards.
        "SELECT hash FROM definitions WHERE name = @name AND substr(hash, 1, length(@prefix)) = @prefix ORDER BY created_at DESC",
      ),
      source: db.prepare<[string], { name: string; source: string }>(
        "SELECT name, source FROM definitions WHERE hash = ?",
      ),
      rejections: db.prepare<[], { name: string; problems: string; at: number }>(
        "SELECT * FROM rejections ORDER BY name",
      ),
      names: db.prepare<[], { name: string; hash: string; updated_at: number }>(
        "SELECT * FROM latest ORDER BY name",
      ),
      versions: db.prepare<[string], { hash: string; created_at: number }>(
        "SELECT hash, created_at FROM definitions WHERE name = ? ORDER BY created_at DESC, rowid DESC",
      ),
      registeredOf: db.prepare<[string], { hash: string }>("SELECT hash FROM registered WHERE name = ?"),
      setRegistered: db.prepare(
        "INSERT INTO registered (name, hash) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET hash = excluded.hash",
      ),
      // The limit inside stops the count at the cap; both columns are instances_by_definition's.
      pins: db.prepare<[string, number], { status: string; n: number }>(
        "SELECT status, COUNT(*) AS n FROM (SELECT status FROM instances WHERE definition = ? LIMIT ?) GROUP BY status",
      ),
      moveLatest: db.prepare("UPDATE latest SET hash = ?, updated_at = ? WHERE name = ?"),
      latestAt: db.prepare<[string], { name: string }>(
        "SELECT name FROM latest WHERE hash = ? ORDER BY name",
      ),
      deleteVersion: db.prepare("DELETE FROM definitions WHERE hash = ? AND name = ?"),
    };
  }

  async register(key: string, source: string): Promise<Registration> {
    // The name is the key without its extension, as for the bucket: team/order.xml is team/order.
    const registration = await readRegistration(key, source, processNameFromKey(key));
    const now = Date.now();
    if (!registration.ok) {
      this.statements.reject.run(registration.name, JSON.stringify(registration.problems), now);
      return registration;
    }
    const name = processNameFromKey(key);
    const unchanged = this.statements.registeredOf.get(name)?.hash === registration.hash;
    this.db.transaction(() => {
      if (!unchanged) {
        this.statements.put.run(registration.hash, name, source, now);
        this.statements.latest.run(name, registration.hash, now);
        this.statements.setRegistered.run(name, registration.hash);
      }
      this.statements.clearRejection.run(name);
    })();
    if (!unchanged) this.parsed.set(registration.hash, registration.definition);
    return { ...registration, name };
  }

  async registerInline(source: string): Promise<Registration> {
    const registration = await readRegistration("subprocess.xml", source);
    if (registration.ok) {
      this.statements.put.run(registration.hash, registration.definition.name, source, Date.now());
      this.parsed.set(registration.hash, registration.definition);
    }
    return registration;
  }

  async resolve(
    name: string,
    version?: string,
  ): Promise<{ hash: string; definition: Definition } | undefined> {
    let hash: string | undefined;
    if (version === undefined || version === "latest") hash = this.statements.getLatest.get(name)?.hash;
    else {
      hash = onlyMatch(
        name,
        version,
        this.statements.byPrefix.all({ name, prefix: version }).map((row) => row.hash),
      );
    }
    if (!hash) return undefined;
    const definition = await this.byHash(hash);
    return definition ? { hash, definition } : undefined;
  }

  async byHash(hash: string): Promise<Definition | undefined> {
    const cached = this.parsed.get(hash);
    if (cached) return cached;
    const row = this.statements.source.get(hash);
    if (!row) return undefined;
    const definition = storedDefinition(row.source, row.name);
    this.parsed.set(hash, definition);
    return definition;
  }

  async source(hash: string): Promise<{ name: string; source: string } | undefined> {
    return this.statements.source.get(hash);
  }

  /**
   * Every registered process (or the one named) with its versions (newest first) and their pins,
   * and the files rejected with their errors.
   */
  async catalogue(filter: { process?: string } = {}): Promise<Catalogue> {
    const wanted = (name: string) => filter.process === undefined || name === filter.process;
    return {
      processes: this.statements.names
        .all()
        .filter((r) => wanted(r.name))
        .map((r) => {
          const registered = this.statements.registeredOf.get(r.name)?.hash;
          return {
            name: r.name,
            hash: r.hash,
            updatedAt: r.updated_at,
            ...(registered === undefined ? {} : { registered }),
            versions: this.statements.versions
              .all(r.name)
              .map((v) => ({ hash: v.hash, registeredAt: v.created_at, ...this.pins(v.hash) })),
          };
        }),
      rejected: this.statements.rejections
        .all()
        .filter((r) => wanted(r.name))
        .map((r) => ({ name: r.name, problems: JSON.parse(r.problems) as string[], at: r.at })),
    };
  }

  /** How many instances are pinned to a version, counted no further than PIN_COUNT_CAP. */
  pins(hash: string): VersionPins {
    const counted = this.statements.pins.all(hash, PIN_COUNT_CAP);
    const total = counted.reduce((sum, row) => sum + row.n, 0);
    return tallyPins(
      counted.map((row) => [row.status, row.n]),
      total >= PIN_COUNT_CAP,
    );
  }

  /** The hash a version of `name` names (`latest`, a hash or a prefix), and the latest hash. */
  private version(name: string, version: string): { hash: string; latest: string } {
    const latest = this.statements.getLatest.get(name)?.hash;
    const hashes = this.statements.versions.all(name).map((v) => v.hash);
    return { hash: matchVersion(name, version, hashes, latest), latest: latest as string };
  }

  setLatest(name: string, version: string): Promise<LatestMove> {
    return this.write(async () =>
      this.db.transaction(() => {
        const { hash, latest } = this.version(name, version);
        if (hash !== latest) this.statements.moveLatest.run(hash, Date.now(), name);
        return { name, hash, previous: latest };
      })(),
    );
  }

  /** In one transaction with the checks: no instance is launched on the version in between. */
  deleteVersion(name: string, version: string): Promise<{ hash: string }> {
    return this.write(async () =>
      this.db.transaction(() => {
        const { hash, latest } = this.version(name, version);
        if (hash === latest) refuseLatest(name, hash);
        const others = this.statements.latestAt.all(hash).map((r) => r.name);
        if (others.length) refuseShared(name, hash, others);
        const pins = this.pins(hash);
        if (pins.pinned > 0) refusePinned(name, hash, pins);
        this.statements.deleteVersion.run(hash, name);
        this.parsed.delete(hash);
        return { hash };
      })(),
    );
  }
}
