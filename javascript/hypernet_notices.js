// Browser notifications for hypernetwork problems (Settings: "Report hypernetwork problems in a browser
// notification"), read from the image's infotext ("Hypernet errors: ..."). Done here rather than with a
// server-side gr.Warning: Forge and Forge Neo run the generation on another thread than the request, where
// gradio has no request to show a warning in; the infotext reaches the page on every host.
(function () {
    var shownFor = {};  // tab -> the infotext text last reported, so one generation is reported once

    function errorsField(text) {
        var m = /Hypernet errors: ("(?:[^"\\]|\\.)*"|[^,\n]*)/.exec(text || "");
        if (!m) return null;
        var value = m[1];
        if (value.charAt(0) === '"') {
            try { value = JSON.parse(value); } catch (e) { value = value.slice(1, -1); }
        }
        return value.trim() || null;
    }

    function box() {
        var el = document.getElementById("hypernet_notices");
        if (!el) {
            el = document.createElement("div");
            el.id = "hypernet_notices";
            el.setAttribute("role", "status");
            el.setAttribute("aria-live", "polite");
            document.body.appendChild(el);
        }
        return el;
    }

    function notify(message) {
        var item = document.createElement("div");
        item.className = "hypernet-notice";
        item.title = "click to close";
        item.textContent = "Hypernetworks: " + message;
        item.addEventListener("click", function () { item.remove(); });
        box().appendChild(item);
        setTimeout(function () { item.remove(); }, 12000);
    }

    function check() {
        if (typeof opts === "undefined" || !opts.hypernet_not_found_warning_toast) return;
        var app = typeof gradioApp === "function" ? gradioApp() : document;
        ["txt2img", "img2img"].forEach(function (tab) {
            var info = app.querySelector("#html_info_" + tab);
            if (!info) return;
            // gradio (3 and 4) puts its status tracker ("processing | 1.2/9.1s") in the same block as the HTML:
            // read only the HTML's own element, or every tick of the next generation re-reports the last errors
            var text = (info.querySelector(".prose") || info).textContent || "";
            if (shownFor[tab] === text) return;
            shownFor[tab] = text;
            var errors = errorsField(text);
            if (errors) errors.split("; ").forEach(notify);
        });
    }

    window.hypernetErrorsField = errorsField;
    if (typeof onAfterUiUpdate === "function") {
        onAfterUiUpdate(check);
    } else if (typeof onUiUpdate === "function") {
        onUiUpdate(check);
    }
})();
