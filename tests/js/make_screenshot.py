"""Render the test document in headless Chromium, click a card, nudge the slider, and save docs/img/cards.png.

    python tests/js/make_screenshot.py [out.png]

The cards and slider row are our page's real output and our CSS; the surrounding look is a rough stand-in for
the webui's theme (see pagegen.HOST_CSS), so this shows behaviour, not the exact webui styling.
"""
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pagegen  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


def preview(path, top, bottom):
    img = Image.new("RGB", (150, 200))
    draw = ImageDraw.Draw(img)
    for y in range(200):
        t = y / 199
        draw.line([(0, y), (150, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    img.save(path)


def main(out):
    with tempfile.TemporaryDirectory() as tmp:
        lib = os.path.join(tmp, "hypernetworks")
        pagegen.make_library(lib)
        preview(os.path.join(lib, "alpha.png"), (244, 114, 182), (59, 130, 246))
        preview(os.path.join(lib, "beta.preview.png"), (250, 204, 21), (22, 163, 74))
        tab_html, _ = pagegen.render(lib, default_multiplier=0.8)
        doc = pagegen.document({"txt2img": tab_html["txt2img"]}, prompt="a cat sitting on a windowsill")
        # the webui serves previews through /sd_extra_networks/thumb; point them at the files instead
        doc = re.sub(r'\./sd_extra_networks/thumb\?filename=([^&"]+)&amp;mtime=[^"]*', r"file://\1", doc)
        path = os.path.join(tmp, "page.html")
        with open(path, "w", encoding="utf8") as f:
            f.write(doc)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                                        headless=True, args=FLAGS)
            page = browser.new_page(viewport={"width": 720, "height": 420})
            page.goto(f"file://{path}")
            page.locator("#txt2img_hypernetworks .card[data-name='alpha']").click()
            page.locator("#txt2img_hypernetworks .card[data-name='beta']").click()
            page.locator("#txt2img_hypernetworks .card[data-name='beta']").click()
            page.locator("#txt2img_hypernetworks .card[data-name='a/dup']").click()
            page.locator("#txt2img_hypernetworks_multiplier").fill("0.65")
            page.wait_for_timeout(200)
            page.screenshot(path=out, full_page=True)
            browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(pagegen.REPO, "docs", "img", "cards.png"))
