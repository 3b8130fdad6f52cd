/**
 * Large payloads: JSON over a threshold (default 64 KB) is stored in S3 under its content hash and
 * replaced by a reference, so no DynamoDB item nears its 400 KB limit. Transparent to callers.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { sha256Hex } from "../runtime/hex.js";
import { aws } from "./table.js";

const PREFIX = "s3ref:";

export interface PayloadStore {
  /** The text to store in DynamoDB: the JSON itself, or a reference to where S3 keeps it. */
  put(json: string): Promise<string>;
  /** The JSON back from what `put` returned. */
  get(stored: string): Promise<string>;
  /** Where an offloaded payload is, for a reader outside docket (a worker); undefined when inline. */
  locate(stored: string): { bucket: string; key: string } | undefined;
}

/** An SQS body over the threshold, offloaded: the advance handler reads it back. */
export interface OffloadedBody {
  readonly docket_payload: string;
}

export function s3Payloads(s3: S3Client, bucket: string, threshold = 64 * 1024): PayloadStore {
  return {
    async put(json) {
      if (json.length <= threshold || !bucket) return json;
      const key = `payloads/${await sha256Hex(json)}.json`;
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
  };
}

/** No offloading (tests of the store alone). */
export const inlinePayloads: PayloadStore = {
  put: async (json) => json,
  get: async (stored) => stored,
  locate: () => undefined,
};
