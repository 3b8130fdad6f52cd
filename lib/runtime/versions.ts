/**
 * What both definition stores decide alike about a process's versions: which version a hash, a
 * prefix or `latest` names, how pins are counted, and why a version may not be deleted.
 */
import type { InstanceStatus } from "../engine/types.js";
import { EngineError } from "../errors.js";
import type { VersionPins } from "../ports.js";
import { NotApplicableError } from "./operations.js";

/**
 * The most instances read to count a version's pins (as GET /counts stops at 10,000): listing the
 * definitions costs the same however many instances there are. Deleting needs only "none".
 */
export const PIN_COUNT_CAP = 10_000;

const UNFINISHED: readonly string[] = ["running", "suspended"] satisfies InstanceStatus[];

/** Pins tallied from the statuses of the instances read (each one instance); `capped` when more were left. */
export function tallyPins(statuses: Iterable<[status: string, count: number]>, capped: boolean): VersionPins {
  let pinned = 0;
  let unfinished = 0;
  for (const [status, count] of statuses) {
    pinned += count;
    if (UNFINISHED.includes(status)) unfinished += count;
  }
  return { pinned, unfinished, capped };
}

/**
 * The hash a version names among a process's registered versions: `latest`, a whole hash, or a
 * prefix of exactly one. UnknownProcess when the process has none; UnknownDefinition (404) or
 * AmbiguousVersion (400) otherwise.
 */
export function matchVersion(
  name: string,
  version: string,
  hashes: readonly string[],
  latest: string | undefined,
): string {
  if (latest === undefined || !hashes.length) throw new EngineError("UnknownProcess", `no process ${name}`);
  if (version === "latest") return latest;
  const matching = hashes.filter((hash) => hash.startsWith(version));
  if (matching.length === 1) return matching[0] as string;
  if (!matching.length)
    throw new EngineError(
      "UnknownDefinition",
      `process ${name} has no version ${version} (its versions: ${hashes.map(short).join(", ")})`,
    );
  return ambiguous(name, version, matching);
}

/** The one hash of `matching` (a version prefix's matches), undefined for none; AmbiguousVersion (400) for more. */
export function onlyMatch(name: string, version: string, matching: readonly string[]): string | undefined {
  return matching.length > 1 ? ambiguous(name, version, matching) : matching[0];
}

function ambiguous(name: string, version: string, matching: readonly string[]): never {
  throw new EngineError(
    "AmbiguousVersion",
    `version ${version} of ${name} is ambiguous: ${matching.map(short).join(", ")} begin with it; give more of the hash`,
  );
}

/** A hash as listings show it (its first 8 characters, a prefix that names it). */
export const short = (hash: string) => hash.slice(0, 8);

/** Refuses to delete the latest version of a process (409). */
export function refuseLatest(name: string, hash: string): never {
  throw new NotApplicableError(
    `version ${short(hash)} is the latest of ${name}: move latest to another version first (docket definitions latest ${name} <version>)`,
  );
}

/** Refuses to delete a version that instances pin (409), saying how many. */
export function refusePinned(name: string, hash: string, pins: VersionPins): never {
  const count = `${pins.pinned}${pins.capped ? " or more" : ""}`;
  throw new NotApplicableError(
    `version ${short(hash)} of ${name} is pinned by ${count} instance${pins.pinned === 1 ? "" : "s"} (${pins.unfinished} unfinished): delete or migrate them first`,
  );
}

/** Refuses to delete a version whose source another process's latest is (byte-identical sources share a hash). */
export function refuseShared(name: string, hash: string, others: readonly string[]): never {
  throw new NotApplicableError(
    `version ${short(hash)} of ${name} is also the latest of ${others.join(", ")} (the same source): it cannot be deleted`,
  );
}
