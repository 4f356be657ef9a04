// The Gallery: this key's jobs, newest first, a page at a time; a job's detail shows the
// parameters read back from the job and can re-run it with the same seed.

import * as api from "./api.js";
import { parameterList } from "./generate.js";
import { handoff } from "./state.js";
import { blobUrl, el, errorBox, formatDate, showError } from "./ui.js";

const PAGE = 12;

// `alt` is the image's text alternative; "" where the text beside it already names it.
async function thumbnail(job, index = 0, alt = `Image ${index + 1} of job ${job.id.slice(0, 8)}`) {
  const image = el("img", { alt, loading: "lazy" });
  if (job.status === "succeeded" && job.artifacts > index) {
    api
      .get(`/v1/generations/${job.id}/artifacts/${index}`, { as: "blob" })
      .then((blob) => (image.src = blobUrl(blob)))
      .catch(() => (image.alt = "image no longer kept"));
  }
  return image;
}

export async function renderGallery(main, offset = 0) {
  const errors = errorBox();
  main.replaceChildren(el("h1", {}, "Gallery"), errors);
  let jobs;
  try {
    jobs = await api.get(`/v1/generations?limit=${PAGE}&offset=${offset}`);
  } catch (error) {
    showError(errors, error);
    return;
  }
  const grid = el("ul", { class: "gallery" });
  for (const job of jobs) {
    const open = el(
      "button",
      { type: "button", class: "card", onclick: () => renderDetail(main, job.id, offset) },
      await thumbnail(job, 0, ""),
      // the visible text is the button's name (no aria-label that a voice user could not say)
      el("span", { class: "card-title" }, `Job ${job.id.slice(0, 8)}`),
      el("span", { class: `status status-${job.status}` }, job.status),
      el("span", { class: "card-meta" }, `${job.parameters.operation || job.kind} · ${job.engine_id}`),
      el("time", { datetime: job.created_at }, formatDate(job.created_at)),
    );
    grid.append(el("li", {}, open));
  }
  if (!jobs.length) grid.append(el("li", { class: "empty" }, "No jobs yet."));
  const pager = el(
    "nav",
    { class: "pager", "aria-label": "Gallery pages" },
    el("button", { type: "button", disabled: offset === 0, onclick: () => renderGallery(main, Math.max(0, offset - PAGE)) }, "Newer"),
    el("span", {}, `Jobs ${jobs.length ? offset + 1 : 0}–${offset + jobs.length}`),
    el("button", { type: "button", disabled: jobs.length < PAGE, onclick: () => renderGallery(main, offset + PAGE) }, "Older"),
  );
  main.append(grid, pager);
}

async function renderDetail(main, id, offset) {
  const errors = errorBox();
  main.replaceChildren(el("h1", {}, "Job"), errors);
  let job;
  try {
    job = await api.get(`/v1/generations/${id}`);
  } catch (error) {
    showError(errors, error);
    return;
  }
  const images = el("div", { class: "detail-images" });
  const seeds = job.parameters.seeds || [];
  for (let index = 0; index < job.artifacts; index += 1) {
    const seed = seeds[index] ?? job.parameters.seed;
    const rerun = el("button", { type: "button", class: "primary" }, "Re-run with this seed");
    rerun.addEventListener("click", () => {
      handoff.prefill = { ...job.parameters, engine_id: job.engine_id, seed };
      location.hash = "#/generate";
    });
    images.append(el("figure", { class: "result" }, await thumbnail(job, index), el("figcaption", {}, `Seed ${seed} `, rerun)));
  }
  const facts = el(
    "dl",
    { class: "parameters" },
    el("dt", {}, "id"), el("dd", { class: "job-id" }, job.id),
    el("dt", {}, "status"), el("dd", {}, job.status),
    el("dt", {}, "engine"), el("dd", {}, job.engine_id),
    el("dt", {}, "created"), el("dd", {}, formatDate(job.created_at)),
    el("dt", {}, "credits charged"), el("dd", {}, String(job.credits_charged)),
  );
  if (job.error) facts.append(el("dt", {}, "error"), el("dd", {}, `${job.error.name}: ${job.error.message}`));
  main.append(
    el("button", { type: "button", onclick: () => renderGallery(main, offset) }, "Back to the gallery"),
    facts,
    images,
    parameterList(job.parameters, "h2"),
  );
}
