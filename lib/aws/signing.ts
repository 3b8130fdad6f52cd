/**
 * Signing the inbox's internal messages. Workers must be able to send replies to the inbox, but
 * everything else in it (launches, timer fires, events, child completions, operator commands) comes
 * from docket's own functions. Each of those carries an HMAC-SHA256 of its body, keyed by a secret
 * only the functions can read (Secrets Manager); the advance function refuses an unsigned or
 * wrongly signed one. A worker can forge nothing but a reply, and a reply that answers no open task
 * is ignored.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { InfrastructureError } from "../errors.js";
import { hex } from "../runtime/hex.js";

export const SIGNATURE_ATTRIBUTE = "docket-signature";

export interface InboxSigner {
  sign(body: string): Promise<string>;
  verify(body: string, signature: string | undefined): Promise<boolean>;
}

/** A signer whose key is read from the secret once, on first use. */
export function secretSigner(client: SecretsManagerClient, secretId: string): InboxSigner {
  let key: ReturnType<typeof crypto.subtle.importKey> | undefined;
  const load = () => {
    key ??= client
      .send(new GetSecretValueCommand({ SecretId: secretId }))
      .then((secret) =>
        crypto.subtle.importKey(
          "raw",
          new TextEncoder().encode(secret.SecretString ?? ""),
          { name: "HMAC", hash: "SHA-256" },
          false,
          ["sign", "verify"],
        ),
      )
      .catch((error: unknown) => {
        key = undefined;
        throw new InfrastructureError(`reading the inbox signing key ${secretId}`, { cause: error });
      });
    return key;
  };
  return {
    async sign(body) {
      return hex(await crypto.subtle.sign("HMAC", await load(), new TextEncoder().encode(body)));
    },
    async verify(body, signature) {
      if (!signature || !/^[0-9a-f]{64}$/.test(signature)) return false;
      const bytes = new Uint8Array(signature.match(/../g)?.map((h) => Number.parseInt(h, 16)) ?? []);
      return crypto.subtle.verify("HMAC", await load(), bytes, new TextEncoder().encode(body));
    },
  };
}
