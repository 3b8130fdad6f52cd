/**
 * DefinitionStore in DynamoDB: sources by content hash, a latest pointer per process, rejections
 * kept. The catalogue (`GET /definitions`) is read without a scan, from items each registration
 * writes in the same transaction:
 *
 *   D#<hash>    DEF          the source and the process name
 *   P#<name>    LATEST       the latest version's hash, and the source last registered (`registered`)
 *   P#<name>    REJECTED     the last rejection's problems (deleted by the next registration)
 *   P#<name>    V#<hash>     a version of the process, with when it was first registered
 *   CATALOGUE   P#<name>     a registered process: its latest hash, when it became latest, `registered`
 *   CATALOGUE   R#<name>     a rejected file: its problems (deleted by the next registration)
 *
 * Registering the source last registered under a name again (a deploy uploading the bucket anew)
 * changes nothing but clears a rejection: a rollback (versions.ts) or a deleted version stays so.
 */
import {
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { processNameFromKey } from "../language/index.js";
import type { Definition } from "../language/model.js";
import type { Catalogue, DefinitionCatalogue, DefinitionStore, LatestMove, Registration } from "../ports.js";
import { readRegistration, storedDefinition } from "../runtime/registration.js";
import { onlyMatch } from "../runtime/versions.js";
import { queryAll } from "./calls.js";
import { inlinePayloads, type PayloadStore } from "./payloads.js";
import { aws, type TableRef } from "./table.js";
import { CATALOGUE, countPins, deleteVersion, latestOf, setLatest } from "./versions.js";

type TransactItems = NonNullable<TransactWriteCommandInput["TransactItems"]>;

export class DynamoDefinitionStore implements DefinitionStore, DefinitionCatalogue {
  private readonly parsed = new Map<string, Definition>();

  constructor(
    private readonly table: TableRef,
    /** Sources over the threshold (up to the 1 MB a definition may have) go to S3: an item holds 400 KB. */
    private readonly payloads: PayloadStore = inlinePayloads,
  ) {}

  async register(key: string, source: string): Promise<Registration> {
    const name = processNameFromKey(key);
    const registration = await readRegistration(key, source, name);
    const now = Date.now();
    const TableName = this.table.name;
    if (!registration.ok) {
      const problems = JSON.stringify(registration.problems);
      await this.transact("recording a rejection", [
        { Put: { TableName, Item: { pk: `P#${name}`, sk: "REJECTED", problems, at: now } } },
        { Put: { TableName, Item: { pk: CATALOGUE, sk: `R#${name}`, name, problems, at: now } } },
      ]);
      return registration;
    }
    const { hash } = registration;
    const clearRejection: TransactItems = [
      { Delete: { TableName, Key: { pk: `P#${name}`, sk: "REJECTED" } } },
      { Delete: { TableName, Key: { pk: CATALOGUE, sk: `R#${name}` } } },
    ];
    if ((await latestOf(this.table, name)).registered === hash) {
      await this.transact("clearing a rejection", clearRejection);
      return registration;
    }
    const stored = await this.payloads.put(source, "definitions");
    await this.transact("registering a definition", [
      { Put: { TableName, Item: { pk: `D#${hash}`, sk: "DEF", name, source: stored, at: now } } },
      { Put: { TableName, Item: { pk: `P#${name}`, sk: "LATEST", hash, registered: hash, at: now } } },
      // A version keeps the time it was first registered: uploading it again makes it latest only.
      {
        Update: {
          TableName,
          Key: { pk: `P#${name}`, sk: `V#${hash}` },
          UpdateExpression: "SET #at = if_not_exists(#at, :now)",
          ExpressionAttributeNames: { "#at": "at" },
          ExpressionAttributeValues: { ":now": now },
        },
      },
      { Put: { TableName, Item: { pk: CATALOGUE, sk: `P#${name}`, name, hash, registered: hash, at: now } } },
      ...clearRejection,
    ]);
    this.parsed.set(registration.hash, registration.definition);
    return registration;
  }

  async registerInline(source: string): Promise<Registration> {
    const registration = await readRegistration("subprocess.xml", source);
    if (registration.ok) {
      const stored = await this.payloads.put(source, "definitions");
      await aws("storing a subprocess", () =>
        this.table.client.send(
          new PutCommand({
            TableName: this.table.name,
            Item: {
              pk: `D#${registration.hash}`,
              sk: "DEF",
              name: registration.definition.name,
              source: stored,
              at: Date.now(),
            },
          }),
        ),
      );
      this.parsed.set(registration.hash, registration.definition);
    }
    return registration;
  }

  async resolve(
    name: string,
    version?: string,
  ): Promise<{ hash: string; definition: Definition } | undefined> {
    let hash: string | undefined;
    if (version === undefined || version === "latest") {
      const { Item } = await aws("resolving a process", () =>
        this.table.client.send(
          new GetCommand({
            TableName: this.table.name,
            Key: { pk: `P#${name}`, sk: "LATEST" },
            ConsistentRead: true,
          }),
        ),
      );
      hash = Item?.hash as string | undefined;
    } else hash = await this.versionOf(name, version);
    if (!hash) return undefined;
    const definition = await this.byHash(hash);
    return definition ? { hash, definition } : undefined;
  }

  async byHash(hash: string): Promise<Definition | undefined> {
    const cached = this.parsed.get(hash);
    if (cached) return cached;
    const stored = await this.source(hash);
    if (!stored) return undefined;
    const definition = storedDefinition(stored.source, stored.name);
    this.parsed.set(hash, definition);
    return definition;
  }

  async source(hash: string): Promise<{ name: string; source: string } | undefined> {
    const { Item } = await aws("loading a definition", () =>
      this.table.client.send(
        new GetCommand({
          TableName: this.table.name,
          Key: { pk: `D#${hash}`, sk: "DEF" },
          ConsistentRead: true,
        }),
      ),
    );
    if (!Item) return undefined;
    return { name: String(Item.name), source: await this.payloads.get(String(Item.source)) };
  }

  /**
   * Every registered process (or the one named) with its versions (newest first) and the files
   * rejected: one query of the catalogue's items, then one per process for its versions, strongly
   * consistent (a registration just made is listed), and one of the pins index per version.
   */
  async catalogue(filter: { process?: string } = {}): Promise<Catalogue> {
    const entries = await queryAll(this.table, "reading the definitions catalogue", {
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": CATALOGUE },
      ConsistentRead: true,
    });
    const wanted = (e: Record<string, unknown>) => filter.process === undefined || e.name === filter.process;
    const registered = entries.filter((e) => String(e.sk).startsWith("P#") && wanted(e));
    const processes = await Promise.all(
      registered.map(async (entry) => ({
        name: String(entry.name),
        hash: String(entry.hash),
        updatedAt: Number(entry.at),
        ...(entry.registered === undefined ? {} : { registered: String(entry.registered) }),
        versions: await this.versions(String(entry.name)),
      })),
    );
    const rejected = entries
      .filter((e) => String(e.sk).startsWith("R#") && wanted(e))
      .map((e) => ({
        name: String(e.name),
        problems: JSON.parse(String(e.problems)) as string[],
        at: Number(e.at),
      }));
    return { processes, rejected };
  }

  /**
   * The version of `name` a hash or a prefix of one names, when exactly one does: a version of
   * another process is not this one's, as on the embedded host.
   */
  private async versionOf(name: string, prefix: string): Promise<string | undefined> {
    const items = await queryAll(this.table, `resolving a version of ${name}`, {
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :v)",
      ExpressionAttributeValues: { ":pk": `P#${name}`, ":v": `V#${prefix}` },
      ConsistentRead: true,
    });
    return onlyMatch(
      name,
      prefix,
      items.map((item) => String(item.sk).slice(2)),
    );
  }

  /** A process's versions with their pins, newest first (ties by hash, so the order is stable). */
  private async versions(name: string): Promise<Catalogue["processes"][number]["versions"]> {
    const items = await queryAll(this.table, `reading the versions of ${name}`, {
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :v)",
      ExpressionAttributeValues: { ":pk": `P#${name}`, ":v": "V#" },
      ConsistentRead: true,
    });
    const versions = await Promise.all(
      items.map(async (item) => {
        const hash = String(item.sk).slice(2);
        return { hash, registeredAt: Number(item.at), ...(await countPins(this.table, hash)) };
      }),
    );
    return versions.sort((a, b) => b.registeredAt - a.registeredAt || (a.hash < b.hash ? 1 : -1));
  }

  setLatest(name: string, version: string): Promise<LatestMove> {
    return setLatest(this.table, name, version, Date.now());
  }

  async deleteVersion(name: string, version: string): Promise<{ hash: string }> {
    const deleted = await deleteVersion(this.table, name, version);
    this.parsed.delete(deleted.hash);
    return deleted;
  }

  /** One transaction on the table: every item written or none. */
  private async transact(what: string, items: TransactItems): Promise<void> {
    await aws(what, () => this.table.client.send(new TransactWriteCommand({ TransactItems: items })));
  }

  async rejection(name: string): Promise<string[] | undefined> {
    const Items = await queryAll(this.table, "reading a rejection", {
      KeyConditionExpression: "pk = :pk AND sk = :sk",
      ExpressionAttributeValues: { ":pk": `P#${name}`, ":sk": "REJECTED" },
      ConsistentRead: true,
    });
    return Items[0] ? (JSON.parse(String(Items[0].problems)) as string[]) : undefined;
  }
}
