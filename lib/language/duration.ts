/** Durations as definitions write them: plain seconds (`120`, `1.5`) or ISO-8601 (`PT2H`, `P1DT30M`). */

const ISO =
  /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;
const UNIT_SECONDS = [7 * 86400, 86400, 3600, 60, 1] as const;

/** Seconds for a duration, or undefined when the text is not one. Years and months are refused: they have no fixed length. */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === "number") return Number.isFinite(text) && text >= 0 ? text : undefined;
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const match = ISO.exec(trimmed);
  if (!match || trimmed === "P" || trimmed.endsWith("T")) return undefined;
  let seconds = 0;
  for (const [i, unit] of UNIT_SECONDS.entries()) {
    const value = match[i + 1];
    if (value !== undefined) seconds += Number(value) * unit;
  }
  return seconds;
}

export const DURATION_HELP =
  "seconds (`120`) or an ISO-8601 duration without years or months (`PT2H`, `P1DT30M`)";
