/** `docket diagram <definition> [--instance ID]`: Mermaid, each node coloured by its state with an instance. */
import { writeFileSync } from "node:fs";
import { readDefinition } from "../language/index.js";
import { diagram } from "../runtime/diagram.js";
import { call } from "./client.js";
import { readTextFile } from "./files.js";

export async function diagramCommand(
  file: string,
  options: { instance?: string; url: string; output?: string },
): Promise<number> {
  let text: string;
  if (options.instance) {
    const { body } = await call(
      options.url,
      "GET",
      `/instances/${encodeURIComponent(options.instance)}/diagram`,
    );
    text = String(body);
  } else {
    text = diagram(readDefinition(readTextFile(file), { file }));
  }
  if (options.output) writeFileSync(options.output, text);
  else process.stdout.write(text);
  return 0;
}
