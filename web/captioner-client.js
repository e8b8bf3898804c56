// The page's handle on the model worker: promises for load and caption, and recovery when the
// WebAssembly instance traps (a lost GPU, a shader or limits error): a fresh worker on the CPU
// reloads the same bundle and the caption is retried, so it still arrives.

export class CaptionerClient {
  #worker = null;
  #next = 1;
  #pending = new Map();
  #bundle = null; // the current model's bytes, to reload after a crash
  #backend = "auto";
  onNote = () => {};

  #start() {
    this.#worker?.terminate();
    this.#worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    this.#worker.onmessage = ({ data }) => {
      const pending = this.#pending.get(data.id);
      if (!pending) return;
      this.#pending.delete(data.id);
      if (data.ok) pending.resolve(data.value);
      else pending.reject(Object.assign(new Error(data.error), { fatal: data.fatal }));
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      const error = Object.assign(new Error(`the model worker failed: ${event.message}`), { fatal: true });
      for (const { reject } of this.#pending.values()) reject(error);
      this.#pending.clear();
    };
  }

  #request(message, transfer = []) {
    if (!this.#worker) this.#start();
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...message, id }, transfer);
    });
  }

  /** The current model's bundle bytes. */
  get bundle() {
    return this.#bundle;
  }

  /** Loads a bundle (ArrayBuffer) on `backend`; resolves with the model info. A bundle that fails
   * to load leaves the previous model in place. */
  async load(bytes, backend = "auto") {
    const info = await this.#request({ type: "load", bytes: bytes.slice(0), backend });
    this.#bundle = bytes;
    this.#backend = backend;
    return info;
  }

  /** Captions encoded image bytes (ArrayBuffer) or ImageData with `{ beam, maxLen }`. */
  async caption(image, options) {
    const send = () => {
      const copy = image instanceof ArrayBuffer ? image.slice(0) : image;
      return this.#request({ type: "caption", image: copy, ...options }, copy instanceof ArrayBuffer ? [copy] : []);
    };
    try {
      return await send();
    } catch (err) {
      if (!err.fatal || !this.#bundle || this.#backend === "cpu") throw err;
      const note = `WebGPU failed (${err.message}), so the model moved to the CPU`;
      this.onNote(note);
      this.#start();
      this.#backend = "cpu";
      await this.#request({ type: "load", bytes: this.#bundle.slice(0), backend: "cpu" });
      const result = await send();
      return { ...result, note };
    }
  }
}
