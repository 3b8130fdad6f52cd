import { DefinitionError } from "../../lib/errors.js";
import { readDefinition } from "../../lib/language/index.js";
import type { Definition } from "../../lib/language/model.js";

/** Every problem reading `source` as `file` gives, as `line:col message`; empty when it reads. */
export function problemsOf(source: string, file = "def.xml"): string[] {
  try {
    readDefinition(source, { file });
  } catch (error) {
    if (error instanceof DefinitionError)
      return error.problems.map((p) => `${p.line ?? "-"}:${p.col ?? "-"} ${p.message}`);
    throw error;
  }
  return [];
}

/** The model without source positions and expression sources, for comparing XML with YAML. */
export function shape(definition: Definition): unknown {
  return JSON.parse(
    JSON.stringify(definition.root, (key, value) => (key === "pos" || key === "source" ? undefined : value)),
  );
}
