/**
 * What a worker may declare its fields with, each turned into one check (the fields → the
 * problems, none when they match): a Standard Schema validator (Zod, Valibot, ArkType… anything
 * with `~standard`), a JSON Schema (draft 2020-12, by ajv), or a function of the fields.
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import type { JsonObject } from "../language/model.js";

/** The part of the Standard Schema interface (standardschema.dev, v1) a worker uses. */
export interface StandardSchema {
  readonly "~standard": {
    readonly version: 1;
    readonly validate: (value: unknown) => StandardResult | Promise<StandardResult>;
  };
}

type StandardResult =
  | { readonly value: unknown; readonly issues?: undefined }
  | { readonly issues: readonly { readonly message: string; readonly path?: readonly unknown[] }[] };

export type FieldsCheck = (fields: JsonObject) => readonly string[] | Promise<readonly string[]>;

/** A JSON Schema (an object with JSON Schema keywords), a Standard Schema, or a check of its own. */
export type FieldsSchema = StandardSchema | FieldsCheck | Record<string, unknown>;

const isStandard = (schema: FieldsSchema): schema is StandardSchema =>
  typeof schema === "object" && schema !== null && "~standard" in schema;

/** A Standard Schema issue's path as `a.b[0]`. */
function pathOf(path: readonly unknown[] | undefined): string {
  return (path ?? [])
    .map((segment) => {
      const key = typeof segment === "object" && segment !== null && "key" in segment ? segment.key : segment;
      return typeof key === "number" ? `[${key}]` : `.${String(key)}`;
    })
    .join("")
    .replace(/^\./, "");
}

let ajv: Ajv2020 | undefined;

/** The check a schema stands for; a JSON Schema that does not compile is refused here, at start. */
export function fieldsCheck(schema: FieldsSchema): FieldsCheck {
  if (typeof schema === "function") return schema;
  if (isStandard(schema))
    return async (fields) => {
      const result = await schema["~standard"].validate(fields);
      return result.issues?.map((issue) => `${pathOf(issue.path) || "(fields)"}: ${issue.message}`) ?? [];
    };
  ajv ??= new Ajv2020({ allErrors: true, strict: false });
  const validate = ajv.compile(schema);
  return (fields) =>
    validate(fields)
      ? []
      : (validate.errors ?? []).map((e) => `${e.instancePath || "(fields)"} ${e.message}`);
}
