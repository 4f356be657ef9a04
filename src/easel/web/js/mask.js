// A mask painted over the init image: white marks what the engine repaints.
// The mask is kept at the image's own resolution; the visible canvas shows the image
// with the mask tinted over it and scales with the page.

import { el, field } from "./ui.js";

export class MaskPainter {
  constructor() {
    this.image = null;
    this.mask = document.createElement("canvas");
    this.view = el("canvas", {
      class: "mask-canvas",
      "aria-label": "Mask: paint over the parts of the image to repaint",
      role: "img",
    });
    this.size = el("input", { type: "range", min: 4, max: 128, value: 32, name: "brush" });
    this.eraser = el("input", { type: "checkbox", name: "eraser" });
    this.painting = false;
    this.root = el(
      "fieldset",
      { class: "mask", hidden: true },
      el("legend", {}, "Mask"),
      this.view,
      el(
        "div",
        { class: "mask-tools" },
        field("Brush size", this.size),
        el("label", { class: "check" }, this.eraser, " Eraser"),
        el("button", { type: "button", onclick: () => this.fill(true) }, "Mask all"),
        el("button", { type: "button", onclick: () => this.fill(false) }, "Clear mask"),
      ),
    );
    this.view.addEventListener("pointerdown", (event) => this.start(event));
    this.view.addEventListener("pointermove", (event) => this.paint(event));
    for (const type of ["pointerup", "pointercancel", "pointerleave"]) {
      this.view.addEventListener(type, () => (this.painting = false));
    }
  }

  // Show the painter for `image` (an ImageBitmap), or hide it with null.
  setImage(image) {
    this.image = image;
    this.root.hidden = !image;
    if (!image) return;
    for (const canvas of [this.mask, this.view]) {
      canvas.width = image.width;
      canvas.height = image.height;
    }
    this.fill(false);
  }

  fill(masked) {
    const context = this.mask.getContext("2d");
    context.globalCompositeOperation = "source-over";
    context.fillStyle = masked ? "#fff" : "#000";
    context.fillRect(0, 0, this.mask.width, this.mask.height);
    this.render();
  }

  start(event) {
    this.painting = true;
    this.view.setPointerCapture(event.pointerId);
    this.paint(event);
  }

  paint(event) {
    if (!this.painting || !this.image) return;
    const box = this.view.getBoundingClientRect();
    const scale = this.mask.width / box.width;
    const x = (event.clientX - box.left) * scale;
    const y = (event.clientY - box.top) * scale;
    const context = this.mask.getContext("2d");
    context.fillStyle = this.eraser.checked ? "#000" : "#fff";
    context.beginPath();
    context.arc(x, y, (Number(this.size.value) / 2) * scale, 0, Math.PI * 2);
    context.fill();
    this.render();
  }

  render() {
    if (!this.image) return;
    const context = this.view.getContext("2d");
    context.globalAlpha = 1;
    context.drawImage(this.image, 0, 0);
    // tint the masked pixels: the mask's white becomes a translucent highlight
    context.globalAlpha = 0.5;
    context.globalCompositeOperation = "screen";
    context.drawImage(this.mask, 0, 0);
    context.globalCompositeOperation = "source-over";
    context.globalAlpha = 1;
  }

  // The mask as a PNG blob, the init image's size: white repaints, black is kept.
  blob() {
    return new Promise((resolve) => this.mask.toBlob(resolve, "image/png"));
  }
}
