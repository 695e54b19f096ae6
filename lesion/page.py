"""The page's own small scripts, which Gradio runs in the browser (an event's `js`): what Gradio's components do not
do by themselves for a visitor with a phone or a screen reader."""

ON_LOAD = """() => {
  // Screen readers announce the verdict and an example's true diagnosis when they change (a refusal is an alert).
  for (const id of ["verdict", "example-truth"]) {
    const element = document.getElementById(id);
    if (element) { element.setAttribute("role", "status"); element.setAttribute("aria-live", "polite"); }
  }
  // Gradio names each example "Thumbnail 13 of 21" and repeats its caption as the image's alt text: name it by its
  // caption, the example's true diagnosis, once, now and whenever the captions change language. Gradio's image
  // previews are buttons without a name: name them by their block's label.
  const name = () => {
    for (const button of document.querySelectorAll("#examples button.thumbnail-item")) {
      const caption = button.querySelector(".caption-label")?.innerText.trim();
      if (!caption) continue;
      if (button.getAttribute("aria-label") !== caption) button.setAttribute("aria-label", caption);
      const image = button.querySelector("img");
      if (image && image.getAttribute("alt") !== "") image.setAttribute("alt", "");
    }
    for (const id of ["lesion-image", "heatmap"]) {
      const block = document.getElementById(id);
      const label = block?.querySelector("[data-testid=block-label]")?.innerText.trim();
      for (const button of block?.querySelectorAll(".image-container button:not([aria-label])") ?? []) {
        if (label && !button.innerText.trim()) button.setAttribute("aria-label", label);
      }
    }
    // The upload area's name ("Drop an image file here to upload") leaves out the words it shows: let it be named
    // by what it shows.
    for (const button of document.querySelectorAll("#lesion-image button.upload-container[aria-label]")) {
      if (button.innerText.trim()) button.removeAttribute("aria-label");
    }
  };
  new MutationObserver(name).observe(document.body, { subtree: true, childList: true, characterData: true });
  name();
}"""

RESULT_INTO_VIEW = """() => {
  const target = [document.getElementById("refusal"), document.getElementById("result-column")]
    .find((element) => element && element.offsetParent !== null && element.innerText.trim());
  if (!target) return;
  const box = target.getBoundingClientRect();
  if (box.top < 0 || box.top > window.innerHeight * 0.6) {
    const reduce = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    target.scrollIntoView({ block: "start", behavior: reduce ? "auto" : "smooth" });
  }
}"""
"""After an upload or an example click, brings the refusal or the result column's top (the verdict) into view: on a
phone the result is far below the photo and far above the example gallery; on a desktop often above the window."""
