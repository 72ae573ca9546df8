// Hypernetworks tab: card clicks toggle <hypernet:name:weight> tags, the Multiplier slider sets the weight of
// the next card and rewrites the selected card's tag live; Enter/Space on a focused card clicks it.
// Uses only gradioApp()/opts from the host and the card markup (.card[data-name], ids {tabname}_hypernetworks_*).
(function() {
    "use strict";

    var TAG = "hypernet";
    var PAGE = "hypernetworks";
    var TAG_RE = /<([A-Za-z_]\w*):([^:>]*)((?::[^>]*)?)>/g;
    var tabs = {}; // tabname -> {selected: name|null, value: number|null}

    function root() {
        return typeof gradioApp === "function" ? gradioApp() : document;
    }

    function option(name, fallback) {
        return (typeof opts === "object" && opts && opts[name] !== undefined && opts[name] !== null) ? opts[name] : fallback;
    }

    function state(tabname) {
        if (!tabs[tabname]) tabs[tabname] = {selected: null, value: null};
        return tabs[tabname];
    }

    function fmt(x) {
        var s = (Math.round(Number(x) * 10000) / 10000).toString();
        return s === "-0" ? "0" : s;
    }

    // The {tabname} of the Hypernetworks pane an element sits in (cards, tree rows, the slider row).
    function tabnameOf(elem) {
        var re = new RegExp("^(.+?)_" + PAGE + "(_|$)");
        for (var e = elem; e && e !== document; e = e.parentElement || (e.getRootNode && e.getRootNode().host)) {
            if (e.dataset && e.dataset.tabname) return e.dataset.tabname;
            var m = e.id && e.id.match(re);
            if (m) return m[1];
        }
        return "txt2img";
    }

    function textarea(tabname, negative) {
        return root().querySelector("#" + tabname + (negative ? "_neg_prompt" : "_prompt") + " textarea");
    }

    function slider(tabname) {
        return root().querySelector("#" + tabname + "_" + PAGE + "_multiplier");
    }

    // The default multiplier as the settings say now (the webui replaces `opts` when settings are applied), else
    // the value the page was rendered with.
    function defaultValue(tabname) {
        var live = Number(option("hypernet_default_multiplier", NaN));
        if (!isNaN(live)) return live;
        var s = slider(tabname);
        if (s && s.defaultValue !== "" && !isNaN(Number(s.defaultValue))) return Number(s.defaultValue);
        return Number(option("extra_networks_default_multiplier", 1));
    }

    // The slider's value once the user moved it in this tab; until then the live default.
    function sliderValue(tabname) {
        var st = state(tabname);
        if (st.value !== null) return st.value;
        return defaultValue(tabname);
    }

    function setValue(ta, value) {
        if (ta.value === value) return;
        ta.value = value;
        ta.dispatchEvent(new Event("input", {bubbles: true})); // gradio reads the textarea on input
    }

    // Every <hypernet:...> tag in a prompt: {start, end, name, params[]} (params after the name, colon-split).
    function findTags(text) {
        var out = [];
        TAG_RE.lastIndex = 0;
        var m;
        while ((m = TAG_RE.exec(text)) !== null) {
            if (m[1] !== TAG) continue;
            out.push({start: m.index, end: m.index + m[0].length, name: m[2].trim(),
                params: m[3] ? m[3].slice(1).split(":") : []});
        }
        return out;
    }

    function tagsNamed(text, name) {
        return findTags(text).filter(function(t) {
            return t.name === name;
        });
    }

    // Remove each tag named `name`, with the activation text right after it and one separator around it.
    function removeTags(text, name, activation, sep) {
        var found = tagsNamed(text, name);
        for (var i = found.length - 1; i >= 0; i--) {
            var s = found[i].start;
            var e = found[i].end;
            if (activation && text.substr(e, activation.length + 1) === " " + activation) e += activation.length + 1;
            if (sep && s >= sep.length && text.substr(s - sep.length, sep.length) === sep) s -= sep.length;
            else if (sep && s === 0 && text.substr(e, sep.length) === sep) e += sep.length;
            text = text.slice(0, s) + text.slice(e);
        }
        return text;
    }

    function appendText(text, addition, sep) {
        if (!text || /\s$/.test(text)) return text + addition;
        return text + sep + addition;
    }

    function removeText(text, piece, sep) {
        if (!piece) return text;
        var at = text.lastIndexOf(piece);
        if (at < 0) return text;
        var s = at;
        var e = at + piece.length;
        if (sep && s >= sep.length && text.substr(s - sep.length, sep.length) === sep) s -= sep.length;
        else if (sep && s === 0 && text.substr(e, sep.length) === sep) e += sep.length;
        return text.slice(0, s) + text.slice(e);
    }

    // Set the multiplier (the first positional parameter after the name) of every tag named `name`.
    function rewriteMultiplier(text, name, value) {
        var found = tagsNamed(text, name);
        for (var i = found.length - 1; i >= 0; i--) {
            var params = found[i].params.slice();
            var idx = -1;
            for (var j = 0; j < params.length; j++) {
                if (params[j].indexOf("=") < 0) {
                    idx = j;
                    break;
                }
            }
            if (idx >= 0) params[idx] = fmt(value);
            else params.unshift(fmt(value));
            var tag = "<" + TAG + ":" + name + ":" + params.join(":") + ">";
            text = text.slice(0, found[i].start) + tag + text.slice(found[i].end);
        }
        return text;
    }

    function cardsNamed(tabname, name) {
        var out = [];
        root().querySelectorAll("[id^='" + tabname + "_" + PAGE + "'] .card").forEach(function(card) {
            if (card.dataset.name === name) out.push(card);
        });
        return out;
    }

    // Mark cards whose tag is in the prompt (active) and the selected one; make cards focusable.
    function sync(tabname) {
        var ta = textarea(tabname, false);
        var st = state(tabname);
        var present = {};
        if (ta) {
            findTags(ta.value).forEach(function(t) {
                present[t.name] = true;
            });
        }
        if (st.selected !== null && !present[st.selected]) st.selected = null;
        root().querySelectorAll("[id^='" + tabname + "_" + PAGE + "'] .card").forEach(function(card) {
            if (!card.hasAttribute("tabindex")) card.setAttribute("tabindex", "0");
            if (!card.hasAttribute("role")) card.setAttribute("role", "button");
            var name = card.dataset.name;
            var active = !!present[name];
            card.classList.toggle("hypernet-active", active);
            card.classList.toggle("hypernet-selected", active && name === st.selected);
            card.setAttribute("aria-pressed", active ? "true" : "false");
        });
        var s = slider(tabname);
        var shown = sliderValue(tabname);
        if (s && Number(s.value) !== shown) showValue(tabname, shown);
    }

    function showValue(tabname, value) {
        var s = slider(tabname);
        var n = root().querySelector("#" + tabname + "_" + PAGE + "_multiplier_number");
        if (s) s.value = fmt(value);
        if (n && n !== document.activeElement) n.value = fmt(value);
    }

    function cardClicked(event, elem, card) {
        if (event) {
            event.stopPropagation();
            event.preventDefault();
        }
        var tabname = tabnameOf(elem);
        var st = state(tabname);
        var sep = option("extra_networks_add_text_separator", " ");
        var ta = textarea(tabname, false);
        if (!ta) return false;
        var neg = textarea(tabname, true);
        var activation = card.activation || "";
        var negative = card.negative || "";

        if (tagsNamed(ta.value, card.name).length > 0) {
            setValue(ta, removeTags(ta.value, card.name, activation, sep));
            if (neg && negative) setValue(neg, removeText(neg.value, negative, sep));
            if (st.selected === card.name) st.selected = null;
        } else {
            var weight = (card.weight !== null && card.weight !== undefined) ? card.weight : sliderValue(tabname);
            var text = "<" + TAG + ":" + card.name + ":" + fmt(weight) + ">" + (activation ? " " + activation : "");
            setValue(ta, appendText(ta.value, text, sep));
            if (neg && negative && neg.value.indexOf(negative) < 0) setValue(neg, appendText(neg.value, negative, sep));
            st.selected = card.name;
        }
        sync(tabname);
        return false;
    }

    function sliderMoved(tabname, value) {
        if (isNaN(value)) return;
        var st = state(tabname);
        st.value = value;
        showValue(tabname, value);
        var ta = textarea(tabname, false);
        if (ta && st.selected !== null && tagsNamed(ta.value, st.selected).length > 0) {
            setValue(ta, rewriteMultiplier(ta.value, st.selected, value));
        }
    }

    function isOurCard(elem) {
        return elem && elem.classList && (elem.classList.contains("card") || elem.classList.contains("tree-list-content-file")) &&
            tabnameOf(elem) !== null && !!elem.closest("[id*='_" + PAGE + "']");
    }

    document.addEventListener("input", function(e) {
        var t = e.target;
        if (!t || !t.classList) return;
        if (t.classList.contains("hypernet-multiplier") || t.classList.contains("hypernet-multiplier-number")) {
            sliderMoved(tabnameOf(t), parseFloat(t.value));
        } else if (t.tagName === "TEXTAREA") {
            var m = t.closest && t.closest("[id$='_prompt']");
            if (m) sync(m.id.replace(/_prompt$/, ""));
        }
    }, true);

    // Forge's sd/xl/flux/all switch re-filters only the Lora, checkpoint and embedding pages (its
    // clickLoraRefresh); our cards carry the same data-sort-sdversion, so re-filter ours too.
    document.addEventListener("change", function(e) {
        var t = e.target;
        if (!t || !t.closest || !t.closest("#forge_ui_preset") || typeof applyExtraNetworkFilter !== "function") return;
        ["txt2img", "img2img"].forEach(function(tab) {
            applyExtraNetworkFilter(tab + "_" + PAGE);
        });
    });

    document.addEventListener("keydown", function(e) {
        if ((e.key === "Enter" || e.key === " ") && isOurCard(e.target)) {
            e.preventDefault();
            e.target.click();
        }
    });

    // Cards made for another model family are in the page but hidden (style.css) until the pane's "show":
    // one switch for the session, for every tab, kept when the cards are re-rendered.
    var SHOW_OTHER = "hypernet-show-other-families";
    function syncHiddenNotes() {
        var shown = document.body.classList.contains(SHOW_OTHER);
        root().querySelectorAll(".hypernet-hidden-note").forEach(function(note) {
            var word = note.querySelector(".hypernet-hidden-word");
            var link = note.querySelector(".hypernet-hidden-toggle");
            // only when it changes: a write is a mutation, and mutations schedule this again
            if (word && word.textContent !== (shown ? "shown" : "hidden")) word.textContent = shown ? "shown" : "hidden";
            if (link && link.textContent !== (shown ? "hide" : "show")) link.textContent = shown ? "hide" : "show";
        });
    }
    function toggleOtherFamilies(event) {
        if (event) {
            event.preventDefault();
            event.stopPropagation();
        }
        document.body.classList.toggle(SHOW_OTHER);
        syncHiddenNotes();
        return false;
    }

    // Cards are re-rendered on refresh and by gradio: re-apply marks and focusability when they appear.
    var pending = false;
    function syncAll() {
        syncHiddenNotes();
        ["txt2img", "img2img"].concat(Object.keys(tabs)).forEach(function(t, i, all) {
            if (all.indexOf(t) === i) sync(t);
        });
    }
    function scheduleSync() {
        if (pending) return;
        pending = true;
        setTimeout(function() {
            pending = false;
            syncAll();
        }, 50);
    }
    function observe() {
        new MutationObserver(scheduleSync).observe(document.body, {childList: true, subtree: true});
        syncAll(); // cards already in the page are focusable at once
    }
    // The host's settings-applied hook (webui/Forge ui.js): the sliders show a changed default at once.
    if (typeof onOptionsChanged === "function") onOptionsChanged(scheduleSync);
    if (document.body) observe();
    else document.addEventListener("DOMContentLoaded", observe);

    // The metadata popup of our cards: the host's popup sorts keys alphabetically and folds nested values into
    // collapsed rows; ours keeps the server's order (what a user needs first) and shows sections as headings.
    function metadataTable(data) {
        var table = document.createElement("table");
        table.className = "popup-table hypernet-metadata";
        function row(key, value, heading) {
            var tr = document.createElement("tr");
            var th = document.createElement(heading ? "th" : "td");
            th.textContent = key;
            if (heading) {
                th.colSpan = 2;
            } else {
                th.className = "hypernet-metadata-key";
            }
            tr.appendChild(th);
            if (!heading) {
                var td = document.createElement("td");
                td.className = "hypernet-metadata-value";
                td.textContent = value;
                tr.appendChild(td);
            }
            table.appendChild(tr);
        }
        Object.keys(data).forEach(function(key) {
            var value = data[key];
            if (value && typeof value === "object") {
                row(key, null, true);
                Object.keys(value).forEach(function(sub) {
                    row(sub, String(value[sub]), false);
                });
            } else {
                row(key, value === null || value === undefined ? "" : String(value), false);
            }
        });
        return table;
    }

    function requestMetadata(event, card) {
        var name = card.dataset.name;
        var show = function(elem) {
            if (typeof popup === "function") popup(elem);
        };
        var fail = function() {
            var pre = document.createElement("pre");
            pre.className = "popup-metadata";
            pre.textContent = "there was an error getting metadata";
            show(pre);
        };
        fetch("./sd_extra_networks/metadata?page=" + PAGE + "&item=" + encodeURIComponent(name))
            .then(function(r) {
                if (!r.ok) throw new Error(r.status);
                return r.json();
            })
            .then(function(data) {
                if (!data || !data.metadata) return fail();
                show(metadataTable(JSON.parse(data.metadata)));
            })
            .catch(fail);
    }

    // Wrap the host's extraNetworksRequestMetadata (webui/Forge extraNetworks.js, loaded before extensions'
    // scripts): our page's cards get our popup, every other page the host's.
    function wrapMetadataRequest() {
        var host = window.extraNetworksRequestMetadata;
        if (typeof host !== "function" || host.hypernetWrapped) return;
        var wrapped = function(event, extraPage) {
            var card = event && event.target && event.target.closest ? event.target.closest("[data-name]") : null;
            if (extraPage !== PAGE || !card || typeof popup !== "function") return host.apply(this, arguments);
            event.stopPropagation();
            requestMetadata(event, card);
            return undefined;
        };
        wrapped.hypernetWrapped = true;
        window.extraNetworksRequestMetadata = wrapped;
    }
    wrapMetadataRequest();
    document.addEventListener("DOMContentLoaded", wrapMetadataRequest);

    // The pointer that replaces the webui's built-in trainer (sd_hypernet/hosts/ui/builtin_trainer.py): open our
    // top-level tab, then its sub-tab ("Create" / "Train").
    function buttonNamed(container, label) {
        if (!container) return null;
        var found = null;
        container.querySelectorAll("button").forEach(function(b) {
            if (!found && b.textContent.trim() === label) found = b;
        });
        return found;
    }
    function openTab(subTab) {
        var top = buttonNamed(root().querySelector("#tabs > .tab-nav") || root().querySelector("#tabs"), "Hypernetworks");
        if (top) top.click();
        setTimeout(function() {
            var sub = buttonNamed(root().querySelector("#hypernet_tabs"), subTab);
            if (sub) sub.click();
        }, 50);
        return false;
    }

    window.hypernetOpenTab = openTab;
    window.hypernetToggleOtherFamilies = toggleOtherFamilies;
    window.hypernetCardClicked = cardClicked;
    window.hypernetTags = {find: findTags, remove: removeTags, rewrite: rewriteMultiplier, sync: sync,
        metadataTable: metadataTable};
})();
