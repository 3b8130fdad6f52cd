/** `npx cdk synth` / `cdk deploy`: the docket stack, participants with queues from docket.config.yaml. */
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { awsParticipants, loadConfig } from "../lib/embedded/config.js";
import { scheduleMap } from "../lib/language/schedule.js";
import { acknowledgeNagFindings } from "./nag.js";
import { DocketStack } from "./stack.js";

const app = new App();
const config = loadConfig();
const stack = new DocketStack(app, app.node.tryGetContext("stackName") ?? "Docket", {
  engine: { ...awsParticipants(config), schedules: scheduleMap(config.schedules ?? []) },
});
acknowledgeNagFindings(stack.engine);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
