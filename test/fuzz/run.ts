/** `npm run fuzz`: the fuzz properties for FUZZ_RUNS runs each (default 10,000), with the totals. */
import fc from "fast-check";
import { checkMessage } from "../../lib/engine/index.js";
import { definitionSources, drive, moves, readsCleanly, validDefinitions } from "./fuzz.js";

const runs = Number(process.env.FUZZ_RUNS ?? 10_000);
const started = performance.now();
let read = 0;
let valid = 0;
fc.assert(
  fc.property(definitionSources, (input) => {
    read++;
    if (readsCleanly(input)) valid++;
  }),
  { numRuns: runs },
);
console.log(
  `definition readers: ${read} sources (${valid} valid, ${read - valid} refused with a DefinitionError)`,
);
fc.assert(
  fc.property(fc.anything(), (value) => {
    checkMessage(value);
  }),
  { numRuns: runs },
);
console.log(`message check: ${runs} values`);
let messages = 0;
const endings: Record<string, number> = {};
fc.assert(
  fc.property(validDefinitions, moves, (definition, stream) => {
    messages += stream.length;
    const { status } = drive(definition, stream);
    endings[status] = (endings[status] ?? 0) + 1;
  }),
  { numRuns: runs },
);
console.log(
  `interpreter: ${runs} definitions driven by ${messages} messages; ended ${JSON.stringify(endings)}`,
);
console.log(
  `fuzz: ${runs * 3} runs, no crash, no foreign error, ${((performance.now() - started) / 1000).toFixed(0)} s`,
);
