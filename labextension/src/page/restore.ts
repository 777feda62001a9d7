// What the page's user changed, kept so that a fresh session of the app can take
// it back (docs/protocol.md, "Restoring a page's changes").
//
// Each change is kept with its widget's place, computed when it is sent: the
// index of the root it is in, then the keys of the states that lead from that
// root to the widget's "IPY_MODEL_<id>" reference (the document's tree, read
// from the states the page received). Model ids differ in a fresh session;
// places do not, as long as the app builds the same tree. Changes are replayed
// in the order the user made them, so a change that rebuilt part of the tree
// comes before the changes made inside the rebuilt part.

import { MAX_PLACE_LENGTH, MAX_RESTORE_CHANGES, MODEL_REF_PREFIX } from './protocol';
import type { Buffer, ClientMessage, JSONObject, RestoreChange } from './protocol';

type Place = (string | number)[];

interface Kept extends RestoreChange {
  buffers: ArrayBuffer[];
  /** Bytes it holds (its JSON and its buffers), for the bound on what the page keeps. */
  size: number;
}

interface Indexed {
  model: [string, string];
  /** The state's values that refer to other widgets, by key. */
  refs: Map<string, unknown>;
}

/** The most bytes of changes a page keeps; beyond it the oldest are dropped. */
const MAX_KEPT_BYTES = 4 * 2 ** 20;
/** How old changes saved for a reload may be when the next page takes them. */
const RELOAD_KEEP_MS = 60_000;

export class UserChanges {
  /** Whether the app takes changes back; the `doc` message says (`restore: false`). */
  enabled = true;
  /** Changes dropped because the page kept too many: some of the user's work cannot come back. */
  dropped = 0;
  private models = new Map<string, Indexed>();
  private roots: string[] = [];
  private noRestore = new Set<string>();
  private kept: Kept[] = [];
  private bytes = 0;
  /** Model id -> its place, and whether it is (inside) a widget not to restore; null when stale. */
  private places: Map<string, { place: Place; withheld: boolean }> | null = null;

  get count(): number {
    return this.kept.length;
  }

  /** A model the server opened: its model name and the widgets its state refers to. */
  opened(modelId: string, state: JSONObject): void {
    const model: [string, string] = [String(state._model_module ?? ''), String(state._model_name ?? '')];
    this.models.set(modelId, { model, refs: new Map() });
    this.updated(modelId, state);
  }

  /** A state update, in either direction: references may have changed. */
  updated(modelId: string, state: JSONObject): void {
    const indexed = this.models.get(modelId);
    if (indexed === undefined) {
      return;
    }
    for (const [key, value] of Object.entries(state)) {
      if (hasRefs(value, 0)) {
        indexed.refs.set(key, value);
        this.places = null;
      } else if (indexed.refs.delete(key)) {
        this.places = null;
      }
    }
  }

  closed(modelId: string): void {
    if (this.models.delete(modelId)) {
      this.places = null;
    }
  }

  doc(roots: readonly string[], restore: boolean, noRestore: readonly string[]): void {
    this.roots = [...roots];
    this.noRestore = new Set(noRestore);
    this.places = null;
    this.enabled = restore;
    if (!restore) {
      this.forget();
    }
  }

  /** The session is gone: its widgets with it. The changes stay, named by place. */
  newSession(): void {
    this.models.clear();
    this.roots = [];
    this.noRestore.clear();
    this.places = null;
    this.enabled = true;
  }

  forget(): void {
    this.kept = [];
    this.bytes = 0;
  }

  /** Keeps an update the page sends, unless its widget has no place or is not to be restored. */
  sent(modelId: string, state: JSONObject, bufferPaths: (string | number)[][], buffers: readonly Buffer[]): void {
    if (!this.enabled) {
      return;
    }
    const found = this.placeOf(modelId);
    const indexed = this.models.get(modelId);
    if (found === undefined || found.withheld || indexed === undefined) {
      return;
    }
    const copied = buffers.map(copyBuffer);
    const json = JSON.stringify(state);
    const change: Kept = {
      place: found.place,
      model: indexed.model,
      state: JSON.parse(json) as JSONObject,
      buffer_paths: bufferPaths.map((path) => [...path]),
      buffers: copied,
      size: json.length + copied.reduce((total, buffer) => total + buffer.byteLength, 0),
    };
    // A drag or typing sends the same keys of one widget again and again: only
    // the last value of such a run matters, in the place of the first.
    const last = this.kept[this.kept.length - 1];
    if (last !== undefined && samePlace(last.place, change.place) && sameKeys(last.state, change.state)) {
      this.kept.pop();
      this.bytes -= last.size;
    }
    this.kept.push(change);
    this.bytes += change.size;
    while (this.kept.length > MAX_RESTORE_CHANGES || (this.bytes > MAX_KEPT_BYTES && this.kept.length > 1)) {
      this.bytes -= this.kept.shift()!.size;
      this.dropped += 1;
    }
  }

  /** The `restore` message carrying every change kept, and its buffers in order. */
  message(id: string): { message: ClientMessage; buffers: ArrayBuffer[] } {
    const changes: RestoreChange[] = this.kept.map(({ place, model, state, buffer_paths }) => ({
      place,
      model,
      state,
      buffer_paths,
    }));
    return { message: { type: 'restore', id, changes }, buffers: this.kept.flatMap((change) => change.buffers) };
  }

  /**
   * Keeps the changes in the tab's sessionStorage under `key`, for the page that
   * loads next in this tab (the app changed, `--dev`): it takes them back once.
   */
  save(key: string): void {
    const kept = this.kept.map(({ buffers, ...change }) => ({ ...change, buffers: buffers.map(toBase64) }));
    try {
      sessionStorage.setItem(key, JSON.stringify({ at: Date.now(), kept }));
    } catch (error) {
      console.warn('jupyter_bridge: could not keep the changes across the reload', error);
    }
  }

  /** Takes the changes a page of this tab saved under `key` just before it reloaded; true if any. */
  load(key: string): boolean {
    const saved = readSaved(key);
    if (saved === null || !Array.isArray(saved.kept) || Date.now() - saved.at > RELOAD_KEEP_MS) {
      return false;
    }
    this.kept = saved.kept.map((change) => ({ ...change, buffers: change.buffers.map(fromBase64) }));
    this.bytes = this.kept.reduce((total, change) => total + change.size, 0);
    return this.kept.length > 0;
  }

  private placeOf(modelId: string): { place: Place; withheld: boolean } | undefined {
    this.places ??= this.computePlaces();
    return this.places.get(modelId);
  }

  /**
   * Every reachable model's place, breadth first from the roots in order, each
   * model's keys in sorted order: the first (shortest) way to a model is its place.
   */
  private computePlaces(): Map<string, { place: Place; withheld: boolean }> {
    const places = new Map<string, { place: Place; withheld: boolean }>();
    const queue: string[] = [];
    this.roots.forEach((id, index) => {
      if (!places.has(id)) {
        places.set(id, { place: [index], withheld: this.noRestore.has(id) });
        queue.push(id);
      }
    });
    for (let next = 0; next < queue.length; next++) {
      const id = queue[next];
      const from = places.get(id)!;
      const indexed = this.models.get(id);
      if (indexed === undefined || from.place.length >= MAX_PLACE_LENGTH) {
        continue;
      }
      for (const key of [...indexed.refs.keys()].sort()) {
        forEachRef(indexed.refs.get(key), [...from.place, key], (ref, place) => {
          if (!places.has(ref) && place.length <= MAX_PLACE_LENGTH) {
            places.set(ref, { place, withheld: from.withheld || this.noRestore.has(ref) });
            queue.push(ref);
          }
        });
      }
    }
    return places;
  }
}

function isRef(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(MODEL_REF_PREFIX);
}

/** Whether a JSON value holds a widget reference (depth-bounded: states are not deep). */
function hasRefs(value: unknown, depth: number): boolean {
  if (isRef(value)) {
    return true;
  }
  if (depth > MAX_PLACE_LENGTH || value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) {
    return false;
  }
  const items = Array.isArray(value) ? value : Object.values(value);
  return items.some((item) => hasRefs(item, depth + 1));
}

/** Calls `found` for each reference in `value`, with the steps that lead to it, lists in order and keys sorted. */
function forEachRef(value: unknown, place: Place, found: (ref: string, place: Place) => void): void {
  if (isRef(value)) {
    found(value.slice(MODEL_REF_PREFIX.length), place);
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => forEachRef(item, [...place, index], found));
  } else if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value) && place.length < MAX_PLACE_LENGTH) {
    for (const key of Object.keys(value).sort()) {
      forEachRef((value as JSONObject)[key], [...place, key], found);
    }
  }
}

function samePlace(a: Place, b: Place): boolean {
  return a.length === b.length && a.every((step, i) => step === b[i]);
}

function sameKeys(a: JSONObject, b: JSONObject): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => key in b);
}

function copyBuffer(buffer: Buffer): ArrayBuffer {
  if (ArrayBuffer.isView(buffer)) {
    return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer;
  }
  return buffer.slice(0);
}

interface Saved {
  at: number;
  kept: (Omit<Kept, 'buffers'> & { buffers: string[] })[];
}

/** What a page saved under `key`, taken out of the tab's storage (it is for one page only). */
function readSaved(key: string): Saved | null {
  try {
    const text = sessionStorage.getItem(key);
    sessionStorage.removeItem(key);
    return text === null ? null : (JSON.parse(text) as Saved);
  } catch {
    return null;
  }
}

function toBase64(buffer: ArrayBuffer): string {
  let text = '';
  const bytes = new Uint8Array(buffer);
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function fromBase64(text: string): ArrayBuffer {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return bytes.buffer;
}
