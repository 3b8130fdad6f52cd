/** The definitions folder: every definition file registered at start, and again when it changes. */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { watch as chokidarWatch } from "chokidar";
import { isDefinitionFile } from "../language/index.js";
import type { DefinitionStore, Registration } from "../ports.js";

/** The file keys under a folder, as `team/order.xml`. */
export function definitionFiles(root: string): string[] {
  if (!existsSync(root)) return [];
  return (readdirSync(root, { recursive: true, encoding: "utf8" }) as string[])
    .filter((file) => isDefinitionFile(file) && statSync(join(root, file)).isFile())
    .map((file) => file.split(sep).join("/"))
    .sort();
}

/**
 * The sources registerFolder registered, by store and folder: a watcher started afterwards registers
 * an existing file only when it has changed since, so a file written while the watcher starts is not
 * lost, and an unchanged one is not registered (and reported) twice.
 */
const registeredAtStart = new WeakMap<DefinitionStore, Map<string, Map<string, string>>>();

export async function registerFolder(root: string, store: DefinitionStore): Promise<Registration[]> {
  const out: Registration[] = [];
  const sources = new Map<string, string>();
  for (const key of definitionFiles(root)) {
    const source = readFileSync(join(root, key), "utf8");
    sources.set(key, source);
    out.push(await store.register(key, source));
  }
  const byFolder = registeredAtStart.get(store) ?? new Map<string, Map<string, string>>();
  byFolder.set(resolve(root), sources);
  registeredAtStart.set(store, byFolder);
  return out;
}

/** Stops watching; `ready` resolves once the folder's files are being watched. */
export type StopWatching = (() => void) & { readonly ready: Promise<void> };

/**
 * Registers files as they are dropped, changed or moved in; returns a function that stops watching.
 * chokidar rather than `fs.watch`: Node 20's recursive `fs.watch` on Linux follows inodes, so after
 * an editor's atomic save (write a temp file, rename it over the original: vim, VS Code, JetBrains)
 * it never reports that file again. `awaitWriteFinish` registers a file only once its size has held
 * still, so a half-written file is not registered, nor an editor's short-lived temp file. A deleted
 * file's versions stay registered: instances started from it still need them.
 */
export function watchFolder(
  root: string,
  store: DefinitionStore,
  onRegistered: (r: Registration, key: string) => void,
): StopWatching {
  if (!existsSync(root)) return Object.assign(() => undefined, { ready: Promise.resolve() });
  const atStart = registeredAtStart.get(store)?.get(resolve(root)) ?? new Map<string, string>();
  const register = registrar(root, store, atStart, onRegistered);
  // The initial scan reports every file: those registerFolder registered are skipped when unchanged.
  const watcher = chokidarWatch(root, {
    awaitWriteFinish: { stabilityThreshold: 150, pollInterval: 25 },
    ignored: (path, stats) =>
      relative(root, path).split(sep).includes("node_modules") ||
      (stats?.isFile() === true && !isDefinitionFile(path)),
  });
  watcher.on("add", register).on("change", register);
  // A folder that cannot be read is skipped; the rest is still watched.
  watcher.on("error", () => undefined);
  const ready = new Promise<void>((done) => watcher.once("ready", done));
  return Object.assign(() => void watcher.close(), { ready });
}

/** Registers a file by its path; one registration at a time per file, so the last save ends latest. */
function registrar(
  root: string,
  store: DefinitionStore,
  atStart: Map<string, string>,
  onRegistered: (r: Registration, key: string) => void,
): (path: string) => void {
  const queues = new Map<string, Promise<void>>();
  return (path) => {
    const key = relative(root, path).split(sep).join("/");
    if (!isDefinitionFile(key)) return;
    const next = (queues.get(key) ?? Promise.resolve()).then(async () => {
      let source: string;
      try {
        source = readFileSync(path, "utf8");
      } catch {
        return; // gone again (renamed away or deleted) before it could be read
      }
      // A file's first event is the initial scan's: compared with what was registered at start.
      const registered = atStart.get(key);
      atStart.delete(key);
      if (registered === source) return;
      onRegistered(await store.register(key, source), key);
    });
    // A failed registration (the engine closed meanwhile) does not stop the next one.
    queues.set(
      key,
      next.catch(() => undefined),
    );
  };
}
