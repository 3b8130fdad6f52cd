/**
 * Large payloads: JSON over a threshold (default 64 KB) is stored in S3 under its content hash and
 * replaced by a reference, so no DynamoDB item nears its 400 KB limit and no SQS message its 256 KB.
 *
 * The payload bucket is not the definitions bucket (an object there would be taken for a definition).
 * Keys say how long an object is needed:
 *   instances/<instance>/<sha256>.json  an instance's snapshots, step messages and commands: deleted
 *                                       with the instance
 *   transient/<sha256>.json             task fields and inbox messages in flight: a lifecycle rule
 *                                       expires them once no message can need them (29 days)
 *   definitions/<sha256>.json           definition sources over the threshold: kept
 */
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { InfrastructureError } from "../errors.js";
import { bytesOver } from "../ports.js";
import { sha256Hex } from "../runtime/hex.js";
import { aws } from "./table.js";

const PREFIX = "s3ref:";

/** Whose a payload is: an instance's (kept as long as it is), one in flight, or a definition's. */
export type PayloadScope = { readonly instance: string } | "transient" | "definitions";

/**
 * Days a transient payload is kept, so no message outlives its body: up to 14 days in a queue
 * (SQS's longest retention), then up to 14 more in its dead-letter queue (a FIFO queue's message
 * starts its retention again there), and a day's slack for the redrive.
 */
export const TRANSIENT_PAYLOAD_DAYS = 29;

export interface PayloadStore {
  /** The text to store in DynamoDB or SQS: the JSON itself, or a reference to where S3 keeps it. */
  put(json: string, scope: PayloadScope): Promise<string>;
  /** The JSON back from what `put` returned. */
  get(stored: string): Promise<string>;
  /** Where an offloaded payload is, for a reader outside docket (a worker); undefined when inline. */
  locate(stored: string): { bucket: string; key: string } | undefined;
  /** Deletes every payload of an instance (when the instance is deleted). */
  removeInstance(instance: string): Promise<void>;
}

/** An SQS body over the threshold, offloaded: the advance handler reads it back. */
export interface OffloadedBody {
  readonly docket_payload: string;
}

const instancePrefix = (instance: string) => `instances/${encodeURIComponent(instance)}/`;

function prefixOf(scope: PayloadScope): string {
  return typeof scope === "string" ? `${scope}/` : instancePrefix(scope.instance);
}

export function s3Payloads(s3: S3Client, bucket: string, threshold = 64 * 1024): PayloadStore {
  return {
    async put(json, scope) {
      if (!bucket || bytesOver(json, threshold) === undefined) return json;
      const key = `${prefixOf(scope)}${await sha256Hex(json)}.json`;
      await aws("offloading a large payload to S3", () =>
        s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: json,
            ContentType: "application/json",
            ServerSideEncryption: "AES256",
          }),
        ),
      );
      return `${PREFIX}${key}`;
    },
    async get(stored) {
      if (!stored.startsWith(PREFIX)) return stored;
      const object = await aws("reading an offloaded payload", () =>
        s3.send(new GetObjectCommand({ Bucket: bucket, Key: stored.slice(PREFIX.length) })),
      );
      return (await object.Body?.transformToString("utf8")) ?? "null";
    },
    locate(stored) {
      return stored.startsWith(PREFIX) ? { bucket, key: stored.slice(PREFIX.length) } : undefined;
    },
    async removeInstance(instance) {
      if (!bucket) return;
      let token: string | undefined;
      do {
        const page = await aws("listing an instance's payloads", () =>
          s3.send(
            new ListObjectsV2Command({
              Bucket: bucket,
              Prefix: instancePrefix(instance),
              ContinuationToken: token,
            }),
          ),
        );
        const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
        if (keys.length) {
          const { Errors = [] } = await aws("deleting an instance's payloads", () =>
            s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } })),
          );
          if (Errors.length)
            throw new InfrastructureError(
              `deleting ${Errors.length} payloads of instance ${instance} failed: ${Errors[0]?.Key} ${Errors[0]?.Code}`,
            );
        }
        token = page.NextContinuationToken;
      } while (token);
    },
  };
}

/** No offloading (tests of the store alone). */
export const inlinePayloads: PayloadStore = {
  put: async (json) => json,
  get: async (stored) => stored,
  locate: () => undefined,
  removeInstance: async () => {},
};
