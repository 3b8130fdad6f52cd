/**
 * The rule for an instance id given at launch, one on both hosts: it names the instance in URLs
 * (nothing to encode), in DynamoDB keys, and as the SQS message group of its inbox (at most 128
 * characters of letters, digits and punctuation), where a child adds `~n` per level of calls.
 */
import { MessageError } from "../errors.js";

export const MAX_ID_LENGTH = 80;
const ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]*$/;

/** Refuses an id that breaks the rule, saying what the rule is. */
export function checkInstanceId(id: string): void {
  if (id.length <= MAX_ID_LENGTH && ID.test(id)) return;
  throw new MessageError([
    {
      path: "id",
      message: `must be 1 to ${MAX_ID_LENGTH} letters, digits, '.', '_', ':', '@' or '-', starting with a letter or digit; got ${JSON.stringify(id.slice(0, 100))}`,
    },
  ]);
}
