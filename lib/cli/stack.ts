/**
 * Where the client commands send their requests: `--url`, `--stack` (the API URL a deployed
 * DocketStack gives as its `ApiUrl` output), $DOCKET_URL, or a local `docket serve`.
 */
import type { CloudFormationClient } from "@aws-sdk/client-cloudformation";
import { DocketError } from "../errors.js";

export const DEFAULT_URL = "http://127.0.0.1:7070";

/** The stack output that holds the API's URL (lib/cdk). */
export const API_URL_OUTPUT = "ApiUrl";

export interface Target {
  readonly url?: string;
  readonly stack?: string;
}

/** The URL in a CloudFormation stack's ApiUrl output, read with the default credentials and region. */
export async function stackApiUrl(stack: string, given?: CloudFormationClient): Promise<string> {
  // Loaded only for --stack: the SDK's client takes a while to import.
  const { CloudFormationClient, DescribeStacksCommand } = await import("@aws-sdk/client-cloudformation");
  const client = given ?? new CloudFormationClient({});
  let outputs: { OutputKey?: string; OutputValue?: string }[] | undefined;
  try {
    const found = await client.send(new DescribeStacksCommand({ StackName: stack }));
    outputs = found.Stacks?.[0]?.Outputs;
    if (!found.Stacks?.length) throw new DocketError("NoStack", `no stack ${stack}`);
  } catch (error) {
    if (error instanceof DocketError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    if (/does not exist/i.test(message))
      throw new DocketError("NoStack", `no stack ${stack} in ${await regionOf(client)}`, { cause: error });
    throw new DocketError("StackUnreadable", `cannot read stack ${stack}: ${message}`, { cause: error });
  } finally {
    client.destroy();
  }
  const url = outputs?.find((o) => o.OutputKey === API_URL_OUTPUT)?.OutputValue;
  if (!url)
    throw new DocketError(
      "NoApiUrl",
      `stack ${stack} has no output ${API_URL_OUTPUT} (is it a DocketStack with its API deployed?)`,
    );
  return url;
}

async function regionOf(client: CloudFormationClient): Promise<string> {
  try {
    return await client.config.region();
  } catch {
    return "this region";
  }
}

/** The API's base URL for the options a client command was given. */
export async function resolveUrl(target: Target, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (target.url && target.stack) throw new DocketError("UsageError", "give --url or --stack, not both");
  if (target.stack) return stackApiUrl(target.stack);
  return target.url ?? env.DOCKET_URL ?? DEFAULT_URL;
}
