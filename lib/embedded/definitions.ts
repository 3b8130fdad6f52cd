/**
 * DefinitionStore on SQLite: definitions stored by content hash, a `latest` pointer per process
 * name, and the errors of a rejected file kept so they can be asked for.
 */
import { processNameFromKey } from "../language/index.js";
import type { Definition } from "../language/model.js";
import type { Catalogue, DefinitionCatalogue, DefinitionStore, Registration } from "../ports.js";
import { readRegistration, storedDefinition } from "../runtime/registration.js";
import type { Db } from "./database.js";

export class SqliteDefinitionStore implements DefinitionStore, DefinitionCatalogue {
  private readonly parsed = new Map<string, Definition>();
  private readonly statements;

  constructor(private readonly db: Db) {
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
      byPrefix: db.prepare<[string, string], { hash: string }>(
        "SELECT hash FROM definitions WHERE name = ? AND hash LIKE ? || '%' ORDER BY created_at DESC LIMIT 2",
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
    this.db.transaction(() => {
      this.statements.put.run(registration.hash, name, source, now);
      this.statements.latest.run(name, registration.hash, now);
      this.statements.clearRejection.run(name);
    })();
    this.parsed.set(registration.hash, registration.definition);
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
      const found = this.statements.byPrefix.all(name, version);
      hash = found.length === 1 ? found[0]?.hash : undefined;
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

  /** Every registered process with its versions (newest first), and the files rejected with their errors. */
  async catalogue(): Promise<Catalogue> {
    return {
      processes: this.statements.names.all().map((r) => ({
        name: r.name,
        hash: r.hash,
        updatedAt: r.updated_at,
        versions: this.statements.versions
          .all(r.name)
          .map((v) => ({ hash: v.hash, registeredAt: v.created_at })),
      })),
      rejected: this.statements.rejections
        .all()
        .map((r) => ({ name: r.name, problems: JSON.parse(r.problems) as string[], at: r.at })),
    };
  }
}
