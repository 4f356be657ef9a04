// The Generate page: pick an engine and an operation, fill the parameters, watch the
// job's progress through its event stream, cancel it, and keep the result.

import * as api from "./api.js";
import { MaskPainter } from "./mask.js";
import { bodyProperties, enumOf, openapi, v2betaImageOperations } from "./schema.js";
import { handoff } from "./state.js";
import { blobUrl, el, errorBox, field, select, showError } from "./ui.js";

// v1 operations: where they post, and which controls they use.
const V1 = {
  "text-to-image": { suffix: "text-to-image", controls: ["prompts", "size", "diffusion", "seed", "samples"] },
  "image-to-image": { suffix: "image-to-image", controls: ["prompts", "diffusion", "seed", "samples", "init", "strength"] },
  masking: { suffix: "image-to-image/masking", controls: ["prompts", "diffusion", "seed", "samples", "init", "mask"] },
  upscale: { suffix: "image-to-image/upscale", controls: ["init", "upscale"] },
};
const SIZES = [256, 320, 384, 448, 512, 576, 640, 704, 768, 832, 896, 960, 1024];
// How often an asynchronous v2beta result is asked for while it runs (its own server).
const POLL_MS = 1000;

export async function renderGenerate(main) {
  const [engines, document] = await Promise.all([api.get("/v1/engines/list"), openapi()]);
  const v1Body = bodyProperties(document, "/v1/generation/{engine_id}/text-to-image");
  const v2beta = v2betaImageOperations(document);
  const asyncPaths = new Set(v2beta.filter((op) => op.async).map((op) => op.path));
  const operations = [
    ...Object.keys(V1).map((name) => [name, `v1 ${name}`]),
    ...v2beta.map((op) => [op.path, op.name]),
  ];

  const c = {
    operation: select("operation", operations, "text-to-image"),
    engine: select("engine", engines.map((e) => [e.id, e.name]), defaultEngine(engines)),
    model: select("model", []),
    prompt: el("textarea", { name: "prompt", rows: 3, required: true }),
    negative: el("textarea", { name: "negative_prompt", rows: 2 }),
    width: select("width", SIZES.map(String), "512"),
    height: select("height", SIZES.map(String), "512"),
    aspect: select("aspect_ratio", []),
    steps: el("input", { name: "steps", type: "number", value: 30, inputmode: "numeric" }),
    cfg: el("input", { name: "cfg_scale", type: "number", value: 7, step: "0.5" }),
    sampler: select("sampler", [["", "engine default"], ...(enumOf(v1Body.sampler) || [])], ""),
    style: select("style_preset", [["", "none"], ...(enumOf(v1Body.style_preset) || [])], ""),
    seed: el("input", { name: "seed", type: "number", value: 0, inputmode: "numeric" }),
    samples: el("input", { name: "samples", type: "number", value: 1, inputmode: "numeric" }),
    strength: el("input", { name: "image_strength", type: "number", value: 0.35, step: "0.05", min: 0, max: 1 }),
    // v2beta's strength runs the other way from v1's image_strength: 1 replaces the image
    change: el("input", { name: "strength", type: "number", value: 0.5, step: "0.05", min: 0, max: 1 }),
    creativity: el("input", { name: "creativity", type: "number", step: "0.05" }),
    upscaleWidth: el("input", { name: "upscale_width", type: "number", value: 1024 }),
    file: el("input", { name: "init_image", type: "file", accept: "image/png,image/jpeg,image/webp" }),
  };
  const mask = new MaskPainter();
  let initBlob = null;

  const group = (controls, ...children) => el("div", { class: "group", "data-controls": controls }, ...children);
  const drop = el(
    "div",
    // not a tab stop of its own: the file input inside is the keyboard's way in
    { class: "drop", role: "group", "aria-label": "Init image: drop an image here or choose a file" },
    el("p", {}, "Drop an image here, or choose one:"),
    field("Init image", c.file),
    el("img", { class: "init-preview", alt: "The init image", hidden: true }),
  );
  const errors = errorBox();
  const progress = el("progress", { max: 100, value: 0, "aria-labelledby": "progress-label" });
  const progressLabel = el("span", { id: "progress-label" }, "");
  const state = el("p", { class: "job-state", "aria-live": "polite" });
  const generate = el("button", { type: "submit", class: "primary" }, "Generate");
  const cancel = el("button", { type: "button", disabled: true }, "Cancel");
  const results = el("section", { class: "results", "aria-label": "Result" });

  const form = el(
    "form",
    { class: "generate-form", novalidate: true },
    el("div", { class: "row" }, field("Operation", c.operation), group("engine", field("Engine", c.engine)), group("model", field("Model", c.model))),
    group("prompts", field("Prompt", c.prompt), field("Negative prompt", c.negative)),
    group("size", el("div", { class: "row" }, field("Width", c.width), field("Height", c.height))),
    group("aspect", field("Aspect ratio", c.aspect)),
    group(
      "diffusion",
      el("div", { class: "row" }, field("Steps", c.steps), field("CFG scale", c.cfg), field("Sampler", c.sampler)),
    ),
    el(
      "div",
      { class: "row" },
      group("seed", field("Seed", c.seed, "0 picks a random seed")),
      group("style", field("Style preset", c.style)),
      group("samples", field("Samples", c.samples)),
    ),
    group("creativity", field("Creativity", c.creativity, "How much detail the upscaler may invent")),
    group("init", drop),
    group("strength", field("Image strength", c.strength, "How much of the init image to keep, 0–1")),
    group("change", field("Strength", c.change, "With an init image: 0 keeps it, 1 replaces it")),
    group("upscale", field("Target width", c.upscaleWidth)),
    group("mask", mask.root),
    el("div", { class: "actions" }, generate, cancel),
    el("div", { class: "progress" }, progress, progressLabel),
    state,
    errors,
  );
  main.replaceChildren(el("h1", {}, "Generate"), el("div", { class: "generate" }, form, results));

  // -- which controls an operation uses -----------------------------------------------
  const v2Properties = (path) => bodyProperties(document, path);
  function controlsFor(operation) {
    if (V1[operation]) {
      const used = new Set(["engine", "style", ...V1[operation].controls]);
      if (operation === "upscale") used.delete("style");
      return used;
    }
    // a v2beta operation shows the controls its body has
    const properties = v2Properties(operation);
    const used = new Set();
    for (const [property, controls] of Object.entries(V2BETA_CONTROLS)) {
      if (properties[property]) used.add(controls);
    }
    return used;
  }

  function showControls() {
    const operation = c.operation.value;
    const used = controlsFor(operation);
    for (const node of form.querySelectorAll("[data-controls]")) {
      node.hidden = !used.has(node.dataset.controls);
    }
    if (!V1[operation]) {
      const properties = v2Properties(operation);
      c.aspect.replaceChildren(...(enumOf(properties.aspect_ratio) || []).map((v) => el("option", { value: v, selected: v === "1:1" }, v)));
      // a model without an enum is offered as its default alone
      const models = enumOf(properties.model) || [properties.model?.default].filter(Boolean);
      c.model.replaceChildren(...models.map((v) => el("option", { value: v }, v)));
      const creativity = properties.creativity;
      if (creativity) {
        Object.assign(c.creativity, { min: creativity.minimum, max: creativity.maximum });
        c.creativity.value = creativity.default;
      }
    }
    showMask();
  }

  async function showMask() {
    const wanted = c.operation.value === "masking" && initBlob;
    mask.setImage(wanted ? await createImageBitmap(initBlob) : null);
  }

  // -- the init image: drag and drop, a file, or a previous result ---------------------
  async function setInit(blob) {
    initBlob = blob;
    const preview = drop.querySelector(".init-preview");
    preview.hidden = !blob;
    if (blob) preview.src = blobUrl(blob);
    await showMask();
  }
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) setInit(file);
  });
  c.file.addEventListener("change", () => setInit(c.file.files[0] || null));
  c.operation.addEventListener("change", showControls);
  c.engine.addEventListener("change", () => {
    // SDXL 1.0 and 0.9 take only their trained sizes; 1024² is one of them
    const size = c.engine.value.includes("xl-1024") ? "1024" : "512";
    c.width.value = size;
    c.height.value = size;
  });

  // -- building the request ------------------------------------------------------------
  function prompts() {
    const list = [{ text: c.prompt.value, weight: 1 }];
    if (c.negative.value.trim()) list.push({ text: c.negative.value, weight: -1 });
    return list;
  }

  function diffusion() {
    const body = { seed: Number(c.seed.value), steps: Number(c.steps.value), cfg_scale: Number(c.cfg.value), samples: Number(c.samples.value) };
    if (c.sampler.value) body.sampler = c.sampler.value;
    if (c.style.value) body.style_preset = c.style.value;
    return body;
  }

  function formOf(fields) {
    const data = new FormData();
    for (const [name, value] of Object.entries(fields)) {
      if (name === "text_prompts") {
        value.forEach((p, i) => {
          data.append(`text_prompts[${i}][text]`, p.text);
          data.append(`text_prompts[${i}][weight]`, String(p.weight));
        });
      } else if (value instanceof Blob) {
        data.append(name, value, `${name}.png`);
      } else if (value !== undefined && value !== null && value !== "") {
        data.append(name, String(value));
      }
    }
    return data;
  }

  async function requestFor(operation) {
    const needsInit = controlsFor(operation).has("init");
    if (needsInit && !initBlob && V1[operation]) {
      throw new api.ApiError(400, { name: "bad_request", message: "init image: choose or drop an image first" });
    }
    if (V1[operation]) {
      const path = `/v1/generation/${encodeURIComponent(c.engine.value)}/${V1[operation].suffix}`;
      if (operation === "text-to-image") {
        return { path, json: { text_prompts: prompts(), width: Number(c.width.value), height: Number(c.height.value), ...diffusion() } };
      }
      if (operation === "upscale") return { path, form: formOf({ image: initBlob, width: c.upscaleWidth.value }) };
      const fields = { text_prompts: prompts(), init_image: initBlob, ...diffusion() };
      if (operation === "image-to-image") fields.image_strength = c.strength.value;
      if (operation === "masking") {
        fields.mask_source = "MASK_IMAGE_WHITE";
        fields.mask_image = await mask.blob();
      }
      return { path, form: formOf(fields) };
    }
    return { path: operation, form: formOf(v2betaFields(operation)), v2beta: true, async: asyncPaths.has(operation) };
  }

  // The form's values under v2beta's names, for the fields this operation's body has.
  function v2betaFields(operation) {
    const properties = v2Properties(operation);
    const image = initBlob && properties.image ? initBlob : null;
    const values = {
      prompt: c.prompt.value,
      negative_prompt: c.negative.value,
      seed: c.seed.value,
      output_format: "png",
      style_preset: c.style.value,
      model: c.model.value,
      creativity: c.creativity.value,
      mode: image ? "image-to-image" : "text-to-image",
      image,
      strength: image ? c.change.value : null,
      aspect_ratio: image ? null : c.aspect.value,
    };
    return Object.fromEntries(Object.entries(values).filter(([name]) => properties[name]));
  }

  // -- running it ----------------------------------------------------------------------
  let running = null;

  function setProgress(fraction) {
    const percent = Math.round(fraction * 100);
    progress.value = percent;
    progressLabel.textContent = `${percent} %`;
  }

  // An asynchronous v2beta operation answers an id at once; its result is polled until
  // it is no longer 202 (in progress), showing the progress each answer carries.
  async function pollResult(id, signal) {
    for (;;) {
      const response = await api.get(`/v2beta/results/${encodeURIComponent(id)}`, {
        as: "response",
        headers: { Accept: "application/json" },
        signal,
      });
      const body = await response.json();
      if (response.status !== 202) return body;
      setProgress(body.progress ?? 0);
      state.textContent = "Job running";
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async function watch(job, finished) {
    // The job exists once the server has read the request: until then its id is unknown.
    while (!finished.done) {
      try {
        await api.followEvents(`/v1/generations/${job}/events`, (name, status) => {
          setProgress(status.status === "succeeded" ? 1 : status.progress);
          state.textContent = `Job ${status.status}`;
        }, running.abort.signal);
        return;
      } catch (error) {
        if (error.name === "AbortError" || error.status !== 404) return;
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (running) return;
    showError(errors, null);
    const operation = c.operation.value;
    let request;
    try {
      request = await requestFor(operation);
    } catch (error) {
      showError(errors, error);
      return;
    }
    const job = crypto.randomUUID();
    running = { job, abort: new AbortController(), cancelled: false };
    const finished = { done: false };
    generate.disabled = true;
    cancel.disabled = false;
    setProgress(0);
    state.textContent = "Job queued";
    const watching = watch(job, finished);
    try {
      let answer = await api.post(request.path, {
        json: request.json,
        form: request.form,
        headers: { Accept: "application/json", "Idempotency-Key": job },
      });
      if (request.async) answer = await pollResult(answer.id, running.abort.signal);
      finished.done = true;
      setProgress(1);
      state.textContent = "Job succeeded";
      const images = request.v2beta
        ? [{ base64: answer.image, seed: answer.seed, finishReason: answer.finish_reason }]
        : answer.artifacts;
      await showResult(images, job);
    } catch (error) {
      finished.done = true;
      if (running.cancelled || error.errorName === "cancelled") state.textContent = "Job cancelled";
      else {
        state.textContent = "Job failed";
        showError(errors, error);
      }
    } finally {
      running.abort.abort();
      await watching;
      running = null;
      generate.disabled = false;
      cancel.disabled = true;
    }
  });

  cancel.addEventListener("click", async () => {
    if (!running) return;
    running.cancelled = true;
    cancel.disabled = true;
    try {
      await api.del(`/v1/generation/${running.job}`);
    } catch (error) {
      showError(errors, error);
    }
  });

  // -- the result ----------------------------------------------------------------------
  async function showResult(images, job) {
    let parameters = null;
    try {
      parameters = (await api.get(`/v1/generations/${job}`)).parameters;
    } catch {
      parameters = null; // a v2beta job is found the same way; nothing to show otherwise
    }
    results.replaceChildren(el("h2", {}, "Result"));
    for (const image of images) {
      const bytes = Uint8Array.from(atob(image.base64), (ch) => ch.charCodeAt(0));
      const blob = new Blob([bytes], { type: "image/png" });
      const url = blobUrl(blob);
      results.append(
        el(
          "figure",
          { class: "result" },
          el("img", { src: url, alt: `Generated image, seed ${image.seed}` }),
          el(
            "figcaption",
            {},
            el("span", { class: "seed" }, `Seed ${image.seed}`),
            image.finishReason && image.finishReason !== "SUCCESS" ? el("span", {}, ` · ${image.finishReason}`) : null,
            el(
              "div",
              { class: "actions" },
              el("a", { href: url, download: `easel-${image.seed}.png`, class: "button" }, "Download"),
              el("button", { type: "button", onclick: () => useAsInit(blob) }, "Use as init image"),
            ),
          ),
        ),
      );
    }
    if (parameters) results.append(parameterList(parameters));
  }

  async function useAsInit(blob) {
    if (c.operation.value === "text-to-image") c.operation.value = "image-to-image";
    showControls();
    await setInit(blob);
    c.file.focus();
  }

  // -- starting from a gallery job -----------------------------------------------------
  function applyPrefill(p) {
    if (V1[p.operation]) c.operation.value = p.operation;
    if (p.engine_id) c.engine.value = p.engine_id;
    const positive = (p.prompts || []).find((x) => x.weight > 0);
    const negative = (p.prompts || []).find((x) => x.weight < 0);
    c.prompt.value = positive ? positive.text : "";
    c.negative.value = negative ? negative.text : "";
    if (p.width) c.width.value = String(p.width);
    if (p.height) c.height.value = String(p.height);
    if (p.steps) c.steps.value = p.steps;
    if (p.cfg_scale !== undefined) c.cfg.value = p.cfg_scale;
    c.sampler.value = p.sampler || "";
    c.style.value = p.style_preset || "";
    c.seed.value = p.seed;
    c.samples.value = 1;
  }

  if (handoff.prefill) {
    applyPrefill(handoff.prefill);
    handoff.prefill = null;
  }
  showControls();
}

// Which group of controls each v2beta body property brings up.
const V2BETA_CONTROLS = {
  prompt: "prompts",
  aspect_ratio: "aspect",
  style_preset: "style",
  model: "model",
  seed: "seed",
  image: "init",
  strength: "change",
  creativity: "creativity",
};

// SD 1.6 takes any size in steps of 64, so the form's defaults suit it.
function defaultEngine(engines) {
  return (engines.find((e) => e.id === "stable-diffusion-v1-6") || engines[0])?.id;
}

// `heading` keeps the outline whole: h3 under the Result's h2, h2 right under a page's h1.
export function parameterList(parameters, heading = "h3") {
  const list = el("dl", { class: "parameters" });
  for (const [name, value] of Object.entries(parameters)) {
    if (value === null || value === undefined || (Array.isArray(value) && !value.length)) continue;
    let text = value;
    if (name === "prompts") text = value.map((p) => `${p.text} (${p.weight})`).join(" · ");
    else if (typeof value === "object") text = JSON.stringify(value);
    list.append(el("dt", {}, name), el("dd", {}, String(text)));
  }
  return el("section", { "aria-label": "Parameters" }, el(heading, {}, "Parameters"), list);
}
