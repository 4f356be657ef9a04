// A mask painted over the init image: white marks what the engine repaints.
// The mask is kept at the image's own resolution; the visible canvas shows the image
// with the mask tinted over it and scales with the page. The keyboard paints too: arrow
// keys move a brush ring over the canvas and Space paints under it.

import { el, field } from "./ui.js";

export class MaskPainter {
  constructor() {
    this.image = null;
    this.mask = document.createElement("canvas");
    this.view = el("canvas", {
      class: "mask-canvas",
      "aria-label": "Mask: paint over the parts of the image to repaint",
      "aria-describedby": "mask-keys",
      role: "img",
      tabindex: 0,
    });
    this.cursor = null; // the keyboard's brush position, in mask pixels
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
      el(
        "small",
        { id: "mask-keys", class: "hint" },
        "Keyboard: on the image, the arrow keys move the brush (Shift: bigger steps) and Space paints.",
      ),
    );
    this.view.addEventListener("keydown", (event) => this.key(event));
    this.view.addEventListener("focus", () => this.render());
    this.view.addEventListener("blur", () => this.render());
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
    this.cursor = null;
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

  // Mask pixels per CSS pixel: the brush size is in screen pixels.
  scale() {
    return this.mask.width / this.view.getBoundingClientRect().width;
  }

  paint(event) {
    if (!this.painting || !this.image) return;
    const box = this.view.getBoundingClientRect();
    const scale = this.scale();
    this.dab((event.clientX - box.left) * scale, (event.clientY - box.top) * scale);
  }

  dab(x, y) {
    const context = this.mask.getContext("2d");
    context.fillStyle = this.eraser.checked ? "#000" : "#fff";
    context.beginPath();
    context.arc(x, y, this.radius(), 0, Math.PI * 2);
    context.fill();
    this.render();
  }

  radius() {
    return (Number(this.size.value) / 2) * this.scale();
  }

  key(event) {
    if (!this.image) return;
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    this.cursor ??= { x: this.mask.width / 2, y: this.mask.height / 2 };
    if (event.key === " ") {
      this.dab(this.cursor.x, this.cursor.y);
    } else if (moves[event.key]) {
      // a step is half the brush (Shift: two brushes), kept on the image
      const step = this.radius() * (event.shiftKey ? 4 : 1);
      const [dx, dy] = moves[event.key];
      this.cursor.x = Math.min(this.mask.width, Math.max(0, this.cursor.x + dx * step));
      this.cursor.y = Math.min(this.mask.height, Math.max(0, this.cursor.y + dy * step));
      this.render();
    } else {
      return;
    }
    event.preventDefault(); // no page scroll
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
    if (document.activeElement === this.view) this.drawCursor(context);
  }

  // The keyboard's brush: a ring, dark inside light, visible on any image.
  drawCursor(context) {
    this.cursor ??= { x: this.mask.width / 2, y: this.mask.height / 2 };
    const width = Math.max(1, this.scale() * 2);
    for (const [color, grow] of [["#fff", width], ["#1d2330", 0]]) {
      context.strokeStyle = color;
      context.lineWidth = width;
      context.beginPath();
      context.arc(this.cursor.x, this.cursor.y, this.radius() + grow, 0, Math.PI * 2);
      context.stroke();
    }
  }

  // The mask as a PNG blob, the init image's size: white repaints, black is kept.
  blob() {
    return new Promise((resolve) => this.mask.toBlob(resolve, "image/png"));
  }
}
