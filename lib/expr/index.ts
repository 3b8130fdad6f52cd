export { checkExpression, compile, evaluate, evaluateCondition, evaluateRaw, type Variables } from "./cel.js";
export { rewritePython } from "./python.js";
export { fromCel, toCel } from "./values.js";
