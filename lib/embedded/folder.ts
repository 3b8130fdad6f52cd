/** The definitions folder: every definition file registered at start, and again when it changes. */
import { existsSync, type FSWatcher, readdirSync, readFileSync, statSync, watch } from "node:fs";
import { join, relative, sep } from "node:path";
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

export async function registerFolder(root: string, store: DefinitionStore): Promise<Registration[]> {
  const out: Registration[] = [];
  for (const key of definitionFiles(root))
    out.push(await store.register(key, readFileSync(join(root, key), "utf8")));
  return out;
}

/** Registers files as they are dropped or changed; returns a function that stops watching. */
export function watchFolder(
  root: string,
  store: DefinitionStore,
  onRegistered: (r: Registration, key: string) => void,
): () => void {
  if (!existsSync(root)) return () => undefined;
  const pending = new Map<string, NodeJS.Timeout>();
  let watcher: FSWatcher | undefined;
  const register = (key: string) => {
    const path = join(root, key);
    if (!isDefinitionFile(key) || !existsSync(path) || !statSync(path).isFile()) return;
    void store
      .register(key.split(sep).join("/"), readFileSync(path, "utf8"))
      .then((r) => onRegistered(r, key));
  };
  try {
    watcher = watch(root, { recursive: true }, (_event, name) => {
      if (!name) return;
      // Editors write in several steps: wait until the file has settled.
      clearTimeout(pending.get(name));
      pending.set(
        name,
        setTimeout(() => register(relative(root, join(root, name))), 100),
      );
    });
  } catch {
    watcher = undefined;
  }
  return () => {
    watcher?.close();
    for (const timer of pending.values()) clearTimeout(timer);
  };
}
