/**
 * IAM on the emulator for the integration tests (`npm run test:iam`): the set-up's moto enforces
 * IAM, the tests' own calls sign as its administrator (test / test), and the handlers run with
 * the credentials of their function's role from the synthesized template. With IAM off, every
 * function shares one set of deps from the administrator's clients, as before.
 */
import { IAMClient } from "@aws-sdk/client-iam";
import { inject } from "vitest";
import type { ProvisionClients, Provisioned } from "../../emulator/provision.js";
import { depsPerRole, type FunctionName } from "../../emulator/provision-iam.js";
import type { AwsClients, AwsDeps, AwsResources } from "../../lib/aws/deps.js";
import { emulatorClients, emulatorConfig } from "./emulator.js";

/** Whether the emulator enforces IAM (the set-up started it with --iam). */
export function iamEnforced(): boolean {
  return inject("iam");
}

/** The administrator's clients for provisioning, with IAM's when it is enforced (roles are then created). */
export function provisioning(clients: AwsClients = emulatorClients(inject("endpoint"))): ProvisionClients {
  return iamEnforced() ? { ...clients, iam: new IAMClient(emulatorConfig(inject("endpoint"))) } : clients;
}

/**
 * The deps each function runs with: `make` over clients signing as the function's role and the
 * function's own resources when IAM is enforced (made once per function), else `shared`, the
 * test's own deps, for all of them.
 */
export function depsOfFunctions(
  provisioned: Provisioned,
  make: (clients: AwsClients, resources: AwsResources) => AwsDeps,
  shared: AwsDeps,
): (fn: FunctionName) => AwsDeps {
  if (iamEnforced()) return depsPerRole(emulatorConfig(inject("endpoint")), provisioned, make);
  return () => shared;
}
