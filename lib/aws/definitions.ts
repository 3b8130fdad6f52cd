/** DefinitionStore in DynamoDB: sources by content hash, a latest pointer per process, rejections kept. */
import { GetCommand, PutCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import { processNameFromKey } from "../language/index.js";
import type { Definition } from "../language/model.js";
import type { DefinitionStore, Registration } from "../ports.js";
import { readRegistration, storedDefinition } from "../runtime/registration.js";
import { queryAll } from "./calls.js";
import { inlinePayloads, type PayloadStore } from "./payloads.js";
import { aws, type TableRef } from "./table.js";

export class DynamoDefinitionStore implements DefinitionStore {
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
    if (!registration.ok) {
      await aws("recording a rejection", () =>
        this.table.client.send(
          new PutCommand({
            TableName: this.table.name,
            Item: {
              pk: `P#${name}`,
              sk: "REJECTED",
              problems: JSON.stringify(registration.problems),
              at: now,
            },
          }),
        ),
      );
      return registration;
    }
    const stored = await this.payloads.put(source, "definitions");
    await aws("registering a definition", () =>
      this.table.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.table.name,
                Item: {
                  pk: `D#${registration.hash}`,
                  sk: "DEF",
                  name,
                  source: stored,
                  at: now,
                },
              },
            },
            {
              Put: {
                TableName: this.table.name,
                Item: { pk: `P#${name}`, sk: "LATEST", hash: registration.hash, at: now },
              },
            },
            { Delete: { TableName: this.table.name, Key: { pk: `P#${name}`, sk: "REJECTED" } } },
          ],
        }),
      ),
    );
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
    } else hash = version;
    if (!hash) return undefined;
    const definition = await this.byHash(hash);
    return definition ? { hash, definition } : undefined;
  }

  async byHash(hash: string): Promise<Definition | undefined> {
    const cached = this.parsed.get(hash);
    if (cached) return cached;
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
    const source = await this.payloads.get(String(Item.source));
    const definition = storedDefinition(source, String(Item.name));
    this.parsed.set(hash, definition);
    return definition;
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
