/** `docket diagram <definition> [--instance ID]`: Mermaid, each node coloured by its state with an instance. */
import { writeFileSync } from "node:fs";
import { readDefinition } from "../language/index.js";
import { diagram } from "../runtime/diagram.js";
import { ApiClient } from "./connection.js";
import { readTextFile } from "./files.js";
import type { Target } from "./stack.js";

export async function diagramCommand(
  file: string,
  options: Target & { instance?: string; output?: string },
): Promise<number> {
  let text: string;
  if (options.instance) {
    const api = await ApiClient.connect(options);
    const { body } = await api.call("GET", `/instances/${encodeURIComponent(options.instance)}/diagram`);
    text = String(body);
  } else {
    text = diagram(readDefinition(readTextFile(file), { file }));
  }
  if (options.output) writeFileSync(options.output, text);
  else process.stdout.write(text);
  return 0;
}
