export { checkExpression, compile, evaluate, evaluateCondition, evaluateRaw, type Variables } from "./cel.js";
export { rewritePython, translatePython } from "./python.js";
export { fromCel, toCel } from "./values.js";
