// What a node's `executed` message carries for its preview. Pure module, unit-tested with
// `node --test web/tests`. The keys are written by nodes/preview.py (one owner per key there):
// ben2_rgba (the cut-out), ben2_before / ben2_after (Refine Edges), ben2_trimap and
// ben2_trimap_image (Confidence Trimap) and ben2_batch_size (images in the batch, of which only the
// first few are previewed).

/** The image entries ({filename, subfolder, type}) under `key`, dropping malformed ones. */
export function entriesOf(output, key) {
  const value = output?.[key];
  return Array.isArray(value) ? value.filter((entry) => entry && typeof entry.filename === "string") : [];
}

/**
 * The preview sets of an output: {main, before, trimap, under, batchSize}, or null when the output
 * holds none of our keys (another extension's message, an old run). `main` is the after image of
 * Refine Edges, else the cut-out; `before` is kept only when it pairs with `main` one to one.
 */
export function previewSets(output) {
  const after = entriesOf(output, "ben2_after");
  const main = after.length ? after : entriesOf(output, "ben2_rgba");
  const trimap = entriesOf(output, "ben2_trimap");
  if (!main.length && !trimap.length) return null;
  const before = entriesOf(output, "ben2_before");
  const sizes = output.ben2_batch_size;
  const shown = trimap.length || main.length;
  return {
    main,
    before: before.length === main.length ? before : [],
    trimap,
    under: entriesOf(output, "ben2_trimap_image"),
    batchSize: Array.isArray(sizes) && Number.isFinite(sizes[0]) ? sizes[0] : shown,
  };
}

/** Query string of ComfyUI's /view route for one entry (temp folder unless the entry says otherwise). */
export function viewQuery(entry) {
  return new URLSearchParams({
    filename: String(entry.filename ?? ""),
    subfolder: String(entry.subfolder ?? ""),
    type: String(entry.type ?? "temp"),
  }).toString();
}
