"""The page's own small scripts, which Gradio runs in the browser (an event's `js`): what Gradio's components do not
do by themselves for a visitor with a phone or a screen reader."""

ON_LOAD = """() => {
  // Screen readers announce the verdict and an example's true diagnosis when they change (a refusal is an alert).
  for (const id of ["verdict", "example-truth"]) {
    const element = document.getElementById(id);
    if (element) { element.setAttribute("role", "status"); element.setAttribute("aria-live", "polite"); }
  }
  // Gradio names each example "Thumbnail 13 of 21": name it by its caption, the example's true diagnosis, instead,
  // now and whenever the captions change language.
  const name = () => {
    for (const button of document.querySelectorAll("#examples button.thumbnail-item")) {
      const caption = button.querySelector(".caption-label")?.innerText.trim();
      if (!caption) continue;
      if (button.getAttribute("aria-label") !== caption) button.setAttribute("aria-label", caption);
      const image = button.querySelector("img");
      if (image && image.alt !== caption) image.alt = caption;
    }
  };
  const gallery = document.getElementById("examples");
  if (gallery) new MutationObserver(name).observe(gallery, { subtree: true, childList: true, characterData: true });
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
